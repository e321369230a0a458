"""The PyTorch tutorial "What is torch.nn really?": logistic regression written by hand with
nn.Parameter, then refactored with nn.Module, DataLoader, F.cross_entropy and the ``fit`` /
``loss_batch`` helpers; finally its CNN, an nn.Sequential with a ``Lambda`` module,
stride-2 convolutions and AdaptiveAvgPool2d, trained with SGD and momentum.

Source: https://github.com/pytorch/tutorials/blob/main/beginner_source/nn_tutorial.py
Changed: MNIST (a pickle downloaded from the web) -> scikit-learn's 8x8 digits (no network),
so images are viewed as (-1, 1, 8, 8) and the logistic regression has 64 inputs; the CNN's three
stride-2 convolutions take 8x8 to 1x1 instead of 28x28 to 4x4; 2 -> 20 epochs because there are
40x fewer images. The metric is the CNN's validation accuracy.
"""

import math

import numpy as np

from _common import Clock, digits, parse, report

args = parse(("kiln", "torch"), __doc__, epochs=20, batch_size=64, lr=0.1)
if args.lib == "kiln":
    import kiln as torch
    import kiln.nn.functional as F
    from kiln import nn, optim
    from kiln.utils.data import DataLoader, TensorDataset
else:
    import torch
    import torch.nn.functional as F
    from torch import nn, optim
    from torch.utils.data import DataLoader, TensorDataset

torch.manual_seed(args.seed)
x_train, y_train, x_valid, y_valid = digits()
x_train, x_valid = x_train.reshape(-1, 64), x_valid.reshape(-1, 64)
if args.quick:
    x_train, y_train = x_train[:512], y_train[:512]
x_train, y_train, x_valid, y_valid = map(torch.tensor, (x_train, y_train, x_valid, y_valid))
n, c = x_train.shape
bs = args.batch_size
lr = args.lr
epochs = 2 if args.quick else args.epochs


class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.weights = nn.Parameter(torch.randn(64, 10) / math.sqrt(64))
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, xb):
        return xb @ self.weights + self.bias


def accuracy(out, yb):
    preds = torch.argmax(out, dim=1)
    return (preds == yb).float().mean()


def loss_batch(model, loss_func, xb, yb, opt=None):
    loss = loss_func(model(xb), yb)
    if opt is not None:
        loss.backward()
        opt.step()
        opt.zero_grad()
    return loss.item(), len(xb)


def fit(epochs, model, loss_func, opt, train_dl, valid_dl, history):
    for epoch in range(epochs):
        model.train()
        with clock:
            for xb, yb in train_dl:
                history.append(loss_batch(model, loss_func, xb, yb, opt)[0])
        model.eval()
        with torch.no_grad():
            losses, nums = zip(*[loss_batch(model, loss_func, xb, yb) for xb, yb in valid_dl])
        val_loss = np.sum(np.multiply(losses, nums)) / np.sum(nums)
        print(epoch, val_loss)


def get_data(train_ds, valid_ds, bs):
    return (DataLoader(train_ds, batch_size=bs, shuffle=True), DataLoader(valid_ds, batch_size=bs * 2))


class Lambda(nn.Module):
    def __init__(self, func):
        super().__init__()
        self.func = func

    def forward(self, x):
        return self.func(x)


def preprocess(x):
    return x.view(-1, 1, 8, 8)


clock = Clock()
loss_func = F.cross_entropy
train_ds, valid_ds = TensorDataset(x_train, y_train), TensorDataset(x_valid, y_valid)
train_dl, valid_dl = get_data(train_ds, valid_ds, bs)

model = Mnist_Logistic()
opt = optim.SGD(model.parameters(), lr=lr)
fit(epochs, model, loss_func, opt, train_dl, valid_dl, [])
print("logistic regression: validation accuracy", accuracy(model(x_valid), y_valid).item())

model = nn.Sequential(
    Lambda(preprocess),
    nn.Conv2d(1, 16, kernel_size=3, stride=2, padding=1),
    nn.ReLU(),
    nn.Conv2d(16, 16, kernel_size=3, stride=2, padding=1),
    nn.ReLU(),
    nn.Conv2d(16, 10, kernel_size=3, stride=2, padding=1),
    nn.ReLU(),
    nn.AdaptiveAvgPool2d(1),
    Lambda(lambda x: x.view(x.size(0), -1)),
)
opt = optim.SGD(model.parameters(), lr=lr, momentum=0.9)
history = []
fit(epochs, model, loss_func, opt, train_dl, valid_dl, history)
with torch.no_grad():
    valid_accuracy = accuracy(model(x_valid), y_valid).item()
print("CNN: validation accuracy", valid_accuracy)
report("accuracy", valid_accuracy, history[0], sum(history[-5:]) / 5, clock.seconds)
