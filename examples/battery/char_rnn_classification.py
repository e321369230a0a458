"""The PyTorch tutorial "NLP From Scratch: Classifying Names with a Character-Level RNN":
names as one-hot letter tensors (line, 1, n_letters), a CharRNN module (nn.RNN, Linear,
LogSoftmax on the last hidden state), NLLLoss summed over mini-batches of single names,
clip_grad_norm_, SGD.

Source: https://github.com/pytorch/tutorials/blob/main/intermediate_source/char_rnn_classification_tutorial.py
Changed: the 18 languages' surname files (a zip downloaded from the web) -> surnames generated
in five made-up "languages" with their own syllables and endings (no network), 160 per language,
85/15 split; 27 -> 10 epochs; hidden 128 as the tutorial. The metric is the test accuracy.
"""

import random
import string

import numpy as np

from _common import Clock, names, parse, report

args = parse(("kiln", "torch"), __doc__, epochs=10, batch_size=64, lr=0.15)
if args.lib == "kiln":
    import kiln as torch
    import kiln.nn as nn
else:
    import torch
    import torch.nn as nn

allowed_characters = string.ascii_letters + " .,;'"
n_letters = len(allowed_characters)


def letterToIndex(letter):
    return allowed_characters.find(letter)


def lineToTensor(line):
    tensor = torch.zeros(len(line), 1, n_letters)
    for li, letter in enumerate(line):
        tensor[li][0][letterToIndex(letter)] = 1
    return tensor


class NamesDataset:
    """The tutorial's Dataset, built from (language, name) pairs instead of files."""

    def __init__(self, pairs, labels_uniq):
        self.labels_uniq = labels_uniq
        self.data = [name for _, name in pairs]
        self.labels = [language for language, _ in pairs]
        self.data_tensors = [lineToTensor(name) for name in self.data]
        self.labels_tensors = [torch.tensor([labels_uniq.index(label)], dtype=torch.long) for label in self.labels]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, idx):
        return self.labels_tensors[idx], self.data_tensors[idx], self.labels[idx], self.data[idx]


class CharRNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super(CharRNN, self).__init__()
        self.rnn = nn.RNN(input_size, hidden_size)
        self.h2o = nn.Linear(hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, line_tensor):
        rnn_out, hidden = self.rnn(line_tensor)
        output = self.h2o(hidden[0])
        output = self.softmax(output)
        return output


def train(rnn, training_data, n_epoch=10, n_batch_size=64, learning_rate=0.2, criterion=nn.NLLLoss()):
    current_loss = 0
    all_losses = []
    rnn.train()
    optimizer = torch.optim.SGD(rnn.parameters(), lr=learning_rate)
    for iter in range(1, n_epoch + 1):
        rnn.zero_grad()
        batches = list(range(len(training_data)))
        random.shuffle(batches)
        batches = np.array_split(batches, len(batches) // n_batch_size)
        for idx, batch in enumerate(batches):
            batch_loss = 0
            for i in batch:
                (label_tensor, text_tensor, label, text) = training_data[i]
                output = rnn.forward(text_tensor)
                loss = criterion(output, label_tensor)
                batch_loss += loss
            batch_loss.backward()
            nn.utils.clip_grad_norm_(rnn.parameters(), 3)
            optimizer.step()
            optimizer.zero_grad()
            current_loss += batch_loss.item() / len(batch)
        all_losses.append(current_loss / len(batches))
        print(f"{iter} ({iter / n_epoch:.0%}): \t average batch loss = {all_losses[-1]}")
        current_loss = 0
    return all_losses


def label_from_output(output, output_labels):
    top_n, top_i = output.topk(1)
    label_i = top_i[0].item()
    return output_labels[label_i], label_i


random.seed(args.seed)
torch.manual_seed(args.seed)
pairs = names(25 if args.quick else 160)
classes = sorted({language for language, _ in pairs})
cut = int(len(pairs) * 0.85)
train_set, test_set = NamesDataset(pairs[:cut], classes), NamesDataset(pairs[cut:], classes)
print(f"train examples = {len(train_set)}, validation examples = {len(test_set)}")
rnn = CharRNN(n_letters, 128, len(classes))
print(rnn)
with Clock() as clock:
    all_losses = train(rnn, train_set, n_epoch=2 if args.quick else args.epochs, n_batch_size=args.batch_size,
                       learning_rate=args.lr)

correct = 0
rnn.eval()
with torch.no_grad():
    for i in range(len(test_set)):
        (label_tensor, text_tensor, label, text) = test_set[i]
        output = rnn(text_tensor)
        guess, guess_i = label_from_output(output, classes)
        correct += int(guess == label)
print("test accuracy", correct / len(test_set))
report("accuracy", correct / len(test_set), all_losses[0], all_losses[-1], clock.seconds)
