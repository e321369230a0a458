"""pytorch/examples vae/main.py: a variational autoencoder (Linear encoder/decoder, the
reparameterisation trick, BCE + KL loss), Adam.

Source: https://github.com/pytorch/examples/blob/main/vae/main.py
Changed: MNIST 784 pixels -> scikit-learn's 8x8 digits, 64 pixels in [0, 1] (no network), so the
layers are 64-200-(10, 10)-200-64 instead of 784-400-(20, 20)-400-784 (the data has 12x fewer
pixels); 30 epochs instead of 10 (there are 40x fewer images); no image files are saved.
The metric is the test set's loss per image (lower is better).
"""

from _common import Clock, digits, parse, report

args = parse(("kiln", "torch"), __doc__, epochs=30, batch_size=128)
if args.lib == "kiln":
    import kiln as torch
    import kiln.utils.data
    from kiln import nn, optim
    from kiln.nn import functional as F
else:
    import torch
    import torch.utils.data
    from torch import nn, optim
    from torch.nn import functional as F

torch.manual_seed(args.seed)
device = torch.device("cpu")
x_train, y_train, x_test, y_test = digits()
if args.quick:
    x_train, y_train = x_train[:512], y_train[:512]
train_loader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(torch.from_numpy(x_train), torch.from_numpy(y_train)),
    batch_size=args.batch_size, shuffle=True)
test_loader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(torch.from_numpy(x_test), torch.from_numpy(y_test)),
    batch_size=args.batch_size, shuffle=False)


class VAE(nn.Module):
    def __init__(self):
        super(VAE, self).__init__()
        self.fc1 = nn.Linear(64, 200)
        self.fc21 = nn.Linear(200, 10)
        self.fc22 = nn.Linear(200, 10)
        self.fc3 = nn.Linear(10, 200)
        self.fc4 = nn.Linear(200, 64)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5*logvar)
        eps = torch.randn_like(std)
        return mu + eps*std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 64))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


model = VAE().to(device)
optimizer = optim.Adam(model.parameters(), lr=1e-3)


def loss_function(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 64), reduction='sum')
    # KL divergence to the unit Gaussian (Kingma and Welling, appendix B)
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def train(epoch):
    model.train()
    train_loss = 0
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = loss_function(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    print('====> Epoch: {} Average loss: {:.4f}'.format(epoch, train_loss / len(train_loader.dataset)))
    return train_loss / len(train_loader.dataset)


def test(epoch):
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for i, (data, _) in enumerate(test_loader):
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += loss_function(recon_batch, data, mu, logvar).item()
    test_loss /= len(test_loader.dataset)
    print('====> Test set loss: {:.4f}'.format(test_loss))
    return test_loss


if __name__ == "__main__":
    clock, losses = Clock(), []
    for epoch in range(1, (3 if args.quick else args.epochs) + 1):
        with clock:
            losses.append(train(epoch))
        test_loss = test(epoch)
        with torch.no_grad():
            sample = model.decode(torch.randn(64, 10).to(device)).cpu()
    report("test loss", test_loss, losses[0], losses[-1], clock.seconds)
