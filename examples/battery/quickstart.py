"""The PyTorch "Quickstart" tutorial: an nn.Module MLP (Flatten, Linear-ReLU stack), DataLoader,
CrossEntropyLoss, SGD, the train/test loops, then save and reload the state_dict.

Source: https://github.com/pytorch/tutorials/blob/main/beginner_source/basics/quickstart_tutorial.py
Changed: FashionMNIST 28x28 -> scikit-learn's 8x8 digits (no network), so the first Linear
takes 64 inputs; lr 1e-3 -> 1e-1 and 5 -> 15 epochs because there are 40x fewer images (at
1e-3 neither library leaves chance level in the time). Saved to a temporary folder. ``--cpu``
stays off the accelerator (a KILN_CUDA=EMULATE build's emulated device counts as one, and is
slow by design); run.py and the test pass it.
"""

import os
import tempfile

from _common import Clock, digits, parse, report

args = parse(("kiln", "torch"), __doc__, epochs=15, batch_size=64, lr=0.1, cpu=False)
if args.lib == "kiln":
    import kiln as torch
    from kiln import nn
    from kiln.utils.data import DataLoader, TensorDataset
else:
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(args.seed)
x_train, y_train, x_test, y_test = digits()
if args.quick:
    x_train, y_train = x_train[:384], y_train[:384]
training_data = TensorDataset(torch.from_numpy(x_train[:, None]), torch.from_numpy(y_train))
test_data = TensorDataset(torch.from_numpy(x_test[:, None]), torch.from_numpy(y_test))
batch_size = args.batch_size
train_dataloader = DataLoader(training_data, batch_size=batch_size, shuffle=True)
test_dataloader = DataLoader(test_data, batch_size=batch_size)

for X, y in test_dataloader:
    print(f"Shape of X [N, C, H, W]: {X.shape}")
    print(f"Shape of y: {y.shape} {y.dtype}")
    break

use_accel = torch.accelerator.is_available() and not args.cpu
device = torch.accelerator.current_accelerator().type if use_accel else "cpu"
print(f"Using {device} device")


class NeuralNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear_relu_stack = nn.Sequential(
            nn.Linear(8*8, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10)
        )

    def forward(self, x):
        x = self.flatten(x)
        logits = self.linear_relu_stack(x)
        return logits


model = NeuralNetwork().to(device)
print(model)
loss_fn = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)


def train(dataloader, model, loss_fn, optimizer, losses):
    size = len(dataloader.dataset)
    model.train()
    for batch, (X, y) in enumerate(dataloader):
        X, y = X.to(device), y.to(device)
        pred = model(X)
        loss = loss_fn(pred, y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
        if batch % 10 == 0:
            loss, current = loss.item(), (batch + 1) * len(X)
            print(f"loss: {loss:>7f}  [{current:>5d}/{size:>5d}]")


def test(dataloader, model, loss_fn):
    size = len(dataloader.dataset)
    num_batches = len(dataloader)
    model.eval()
    test_loss, correct = 0, 0
    with torch.no_grad():
        for X, y in dataloader:
            X, y = X.to(device), y.to(device)
            pred = model(X)
            test_loss += loss_fn(pred, y).item()
            correct += (pred.argmax(1) == y).type(torch.float).sum().item()
    test_loss /= num_batches
    correct /= size
    print(f"Test Error: \n Accuracy: {(100*correct):>0.1f}%, Avg loss: {test_loss:>8f} \n")
    return correct


epochs = 3 if args.quick else args.epochs
losses, clock = [], Clock()
for t in range(epochs):
    print(f"Epoch {t+1}\n-------------------------------")
    with clock:
        train(train_dataloader, model, loss_fn, optimizer, losses)
    accuracy = test(test_dataloader, model, loss_fn)
print("Done!")

with tempfile.TemporaryDirectory() as folder:
    path = os.path.join(folder, "model.pth")
    torch.save(model.state_dict(), path)
    model = NeuralNetwork().to(device)
    model.load_state_dict(torch.load(path, weights_only=True))
reloaded = test(test_dataloader, model, loss_fn)
assert reloaded == accuracy, (reloaded, accuracy)
report("accuracy", accuracy, losses[0], sum(losses[-5:]) / 5, clock.seconds)
