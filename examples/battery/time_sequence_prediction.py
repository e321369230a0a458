"""pytorch/examples time_sequence_prediction: two stacked LSTMCells in float64 learn sine
waves step by step (input.split(1, dim=1)), trained with LBFGS and a closure, then predict the
future by feeding their own outputs back.

Source: https://github.com/pytorch/examples/tree/main/time_sequence_prediction
(train.py and generate_sine_wave.py)
Changed: the waves are generated in memory instead of saved with torch.save (same formula);
100 waves of 1000 steps -> 20 of 100 and 15 -> 4 LBFGS steps, 1000 -> 100 future steps (a
Python loop per time step is the whole cost); no plots. The metric is the test MSE (lower is better).
"""

from _common import Clock, parse, report, sine_waves

args = parse(("kiln", "torch"), __doc__, epochs=4)
if args.lib == "kiln":
    import kiln as torch
    import kiln.nn as nn
    import kiln.optim as optim
else:
    import torch
    import torch.nn as nn
    import torch.optim as optim


class Sequence(nn.Module):
    def __init__(self):
        super(Sequence, self).__init__()
        self.lstm1 = nn.LSTMCell(1, 51)
        self.lstm2 = nn.LSTMCell(51, 51)
        self.linear = nn.Linear(51, 1)

    def forward(self, input, future=0):
        outputs = []
        h_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t = torch.zeros(input.size(0), 51, dtype=torch.double)
        h_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        c_t2 = torch.zeros(input.size(0), 51, dtype=torch.double)
        for input_t in input.split(1, dim=1):
            h_t, c_t = self.lstm1(input_t, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        for i in range(future):  # if we should predict the future
            h_t, c_t = self.lstm1(output, (h_t, c_t))
            h_t2, c_t2 = self.lstm2(h_t, (h_t2, c_t2))
            output = self.linear(h_t2)
            outputs += [output]
        outputs = torch.cat(outputs, dim=1)
        return outputs


if __name__ == '__main__':
    torch.manual_seed(args.seed)
    data = sine_waves(n=6 if args.quick else 20, length=24 if args.quick else 100)
    input = torch.from_numpy(data[3:, :-1])
    target = torch.from_numpy(data[3:, 1:])
    test_input = torch.from_numpy(data[:3, :-1])
    test_target = torch.from_numpy(data[:3, 1:])
    seq = Sequence()
    seq.double()
    criterion = nn.MSELoss()
    optimizer = optim.LBFGS(seq.parameters(), lr=0.8)
    losses, clock = [], Clock()
    for i in range(1 if args.quick else args.epochs):
        print('STEP: ', i)

        def closure():
            optimizer.zero_grad()
            out = seq(input)
            loss = criterion(out, target)
            losses.append(loss.item())
            loss.backward()
            return loss
        with clock:
            optimizer.step(closure)
        with torch.no_grad():
            future = 100
            pred = seq(test_input, future=future)
            loss = criterion(pred[:, :-future], test_target)
            print('test loss:', loss.item())
    report("test mse", loss.item(), losses[0], losses[-1], clock.seconds)
