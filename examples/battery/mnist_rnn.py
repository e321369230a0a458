"""pytorch/examples mnist_rnn/main.py: an LSTM reads the image row by row, the last output goes
through BatchNorm1d, Dropout2d and two Linear layers; Adadelta with StepLR.

Source: https://github.com/pytorch/examples/blob/main/mnist_rnn/main.py
Changed: MNIST (torchvision, downloaded) -> scikit-learn's 8x8 digits (no network), normalised
with their own mean and std as the original's transforms.Normalize does with MNIST's; so the
LSTM reads 8 rows of 8 pixels instead of 28 of 28. 14 epochs, batch 64, lr 0.1, gamma 0.7 and
the layers are the original's.
"""

import sys

from _common import Clock, digits, parse, report

args = parse(("kiln", "torch"), __doc__, epochs=14, batch_size=64, lr=0.1, gamma=0.7)
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
        self.rnn = nn.LSTM(input_size=8, hidden_size=64, batch_first=True)
        self.batchnorm = nn.BatchNorm1d(64)
        self.dropout1 = nn.Dropout2d(0.25)
        self.dropout2 = nn.Dropout2d(0.5)
        self.fc1 = nn.Linear(64, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, input):
        input = input.reshape(-1, 8, 8)
        output, hidden = self.rnn(input)
        output = output[:, -1, :]
        output = self.batchnorm(output)
        output = self.dropout1(output)
        output = self.fc1(output)
        output = F.relu(output)
        output = self.dropout2(output)
        output = self.fc2(output)
        output = F.log_softmax(output, dim=1)
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
