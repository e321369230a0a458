"""pytorch/examples mnist/main.py: a two-convolution CNN on digits, Adadelta with StepLR.

Source: https://github.com/pytorch/examples/blob/main/mnist/main.py
Changed: MNIST (torchvision, downloaded) -> scikit-learn's 8x8 digits (no network), normalised
with their own mean and std as the original's transforms.Normalize does with MNIST's; so fc1
takes 64*2*2 features instead of 9216. 14 epochs, batch 64, lr 1.0, gamma 0.7 as the original.
"""

import sys

from _common import Clock, digits, parse, report

args = parse(("kiln", "torch"), __doc__, epochs=14, batch_size=64, lr=1.0, gamma=0.7)
if args.lib == "kiln":
    import kiln as torch
    import kiln.nn as nn
    import kiln.nn.functional as F
    import kiln.optim as optim
    from kiln.optim.lr_scheduler import StepLR
    from kiln.utils.data import DataLoader, TensorDataset
else:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.optim as optim
    from torch.optim.lr_scheduler import StepLR
    from torch.utils.data import DataLoader, TensorDataset


class Net(nn.Module):
    def __init__(self):
        super(Net, self).__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, 1)
        self.conv2 = nn.Conv2d(32, 64, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(256, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = self.conv1(x)
        x = F.relu(x)
        x = self.conv2(x)
        x = F.relu(x)
        x = F.max_pool2d(x, 2)
        x = self.dropout1(x)
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = F.relu(x)
        x = self.dropout2(x)
        x = self.fc2(x)
        output = F.log_softmax(x, dim=1)
        return output


def train(args, model, device, train_loader, optimizer, epoch, losses):
    model.train()
    for batch_idx, (data, target) in enumerate(train_loader):
        data, target = data.to(device), target.to(device)
        optimizer.zero_grad()
        output = model(data)
        loss = F.nll_loss(output, target)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if args.quick and batch_idx == 5:
            break


def test(model, device, test_loader):
    model.eval()
    test_loss = 0
    correct = 0
    with torch.no_grad():
        for data, target in test_loader:
            data, target = data.to(device), target.to(device)
            output = model(data)
            test_loss += F.nll_loss(output, target, reduction='sum').item()
            pred = output.argmax(dim=1, keepdim=True)
            correct += pred.eq(target.view_as(pred)).sum().item()
    test_loss /= len(test_loader.dataset)
    print('Test set: Average loss: {:.4f}, Accuracy: {}/{} ({:.0f}%)'.format(
        test_loss, correct, len(test_loader.dataset), 100. * correct / len(test_loader.dataset)))
    return correct / len(test_loader.dataset)


def main():
    torch.manual_seed(args.seed)
    device = torch.device("cpu")
    x_train, y_train, x_test, y_test = digits()
    mean, std = x_train.mean(), x_train.std()
    dataset1 = TensorDataset(torch.from_numpy((x_train[:, None] - mean) / std), torch.from_numpy(y_train))
    dataset2 = TensorDataset(torch.from_numpy((x_test[:, None] - mean) / std), torch.from_numpy(y_test))
    train_loader = DataLoader(dataset1, batch_size=args.batch_size, shuffle=True)
    test_loader = DataLoader(dataset2, batch_size=1000)

    model = Net().to(device)
    optimizer = optim.Adadelta(model.parameters(), lr=args.lr)
    scheduler = StepLR(optimizer, step_size=1, gamma=args.gamma)
    epochs = 2 if args.quick else args.epochs
    losses, clock = [], Clock()
    for epoch in range(1, epochs + 1):
        with clock:
            train(args, model, device, train_loader, optimizer, epoch, losses)
        accuracy = test(model, device, test_loader)
        scheduler.step()
    report("accuracy", accuracy, losses[0], sum(losses[-5:]) / 5, clock.seconds)


if __name__ == '__main__':
    main()
