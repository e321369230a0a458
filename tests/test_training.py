"""Both idioms train the tutorial models to the accuracy the originals reach."""

import numpy as np
import pytest

import kiln
from kiln import keras, nn
from kiln.keras import layers

datasets = pytest.importorskip("sklearn.datasets")
model_selection = pytest.importorskip("sklearn.model_selection")


def digits():
    data = datasets.load_digits()
    x = (data.images / 16.0).astype(np.float32)
    return model_selection.train_test_split(x, data.target, test_size=0.25, random_state=0,
                                            stratify=data.target)


def test_digits_cnn_keras_channels_last():
    keras.utils.set_random_seed(0)
    x_train, x_test, y_train, y_test = digits()
    model = keras.Sequential([
        keras.Input(shape=(8, 8, 1)),
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.Flatten(),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train[..., None], y_train, epochs=15, batch_size=32, verbose=0)
    _, accuracy = model.evaluate(x_test[..., None], y_test, verbose=0)
    assert accuracy >= 0.97


def test_digits_mlp_pytorch_idiom():
    kiln.manual_seed(0)
    x_train, x_test, y_train, y_test = digits()
    train = kiln.utils.data.TensorDataset(kiln.tensor(x_train.reshape(-1, 64)), kiln.tensor(y_train))
    loader = kiln.utils.data.DataLoader(train, batch_size=32, shuffle=True)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1, self.fc2, self.fc3 = nn.Linear(64, 128), nn.Linear(128, 64), nn.Linear(64, 10)

        def forward(self, x):
            return self.fc3(kiln.relu(self.fc2(kiln.relu(self.fc1(x)))))

    model = MLP()
    criterion = nn.CrossEntropyLoss()
    optimizer = kiln.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(15):
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = criterion(model(xb), yb)
            loss.backward()
            optimizer.step()
    model.eval()
    with kiln.no_grad():
        predicted = model(kiln.tensor(x_test.reshape(-1, 64))).argmax(1)
    accuracy = (predicted == kiln.tensor(y_test)).float().mean().item()
    assert accuracy >= 0.96


def test_breast_cancer_subclassed_binary_classifier():
    keras.utils.set_random_seed(0)
    data = datasets.load_breast_cancer()
    x_train, x_test, y_train, y_test = model_selection.train_test_split(
        data.data, data.target, test_size=0.25, random_state=0, stratify=data.target)
    mean, std = x_train.mean(0), x_train.std(0)
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    class BinaryClassifier(keras.Model):
        def __init__(self):
            super().__init__()
            self.hidden = layers.Dense(16, activation="relu")
            self.dropout = layers.Dropout(0.2)
            self.out = layers.Dense(1, activation="sigmoid")

        def call(self, inputs, training=None):
            return self.out(self.dropout(self.hidden(inputs), training=training))

    model = BinaryClassifier()
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=30, batch_size=32, verbose=0)
    assert model.evaluate(x_test, y_test, verbose=0)[1] >= 0.93


def test_seven_layer_regression_mlp_cuts_its_loss_fivefold():
    kiln.manual_seed(0)
    features, target = datasets.make_friedman1(n_samples=512, noise=0.1, random_state=0)
    x = kiln.tensor(((features - features.mean(0)) / features.std(0)).astype(np.float32))
    y = kiln.tensor(((target - target.mean()) / target.std()).astype(np.float32)[:, None])
    layers_ = [nn.Linear(10, 64), nn.ReLU()]
    for _ in range(5):
        layers_ += [nn.Linear(64, 64), nn.ReLU()]
    model = nn.Sequential(*layers_, nn.Linear(64, 1))
    assert sum(isinstance(m, nn.Linear) for m in model) == 7
    criterion = nn.MSELoss()
    optimizer = kiln.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] / losses[-1] >= 5


def test_two_sentence_lstm_separates_its_labels():
    keras.utils.set_random_seed(0)
    texts = ["this movie was wonderful and moving", "this movie was dull and far too long"]
    tokenizer = keras.preprocessing.text.Tokenizer()
    tokenizer.fit_on_texts(texts)
    x = keras.utils.pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=8)
    y = np.array([1, 0])
    model = keras.Sequential([layers.Embedding(len(tokenizer.word_index) + 1, 8), layers.LSTM(8),
                              layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.05), loss="binary_crossentropy")
    model.fit(x, y, epochs=40, verbose=0)
    p = model.predict(x)[:, 0]
    assert p[0] > 0.8 and p[1] < 0.2


def test_same_seed_same_results_bit_for_bit():
    def run():
        keras.utils.set_random_seed(123)
        x_train, _, y_train, _ = digits()
        model = keras.Sequential([layers.Conv2D(4, 3, activation="relu"), layers.Flatten(), layers.Dropout(0.3),
                                  layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        history = model.fit(x_train[:256, ..., None], y_train[:256], epochs=2, verbose=0)
        return history.history["loss"], model.get_weights()

    (loss_a, weights_a), (loss_b, weights_b) = run(), run()
    assert loss_a == loss_b
    for a, b in zip(weights_a, weights_b):
        np.testing.assert_array_equal(a, b)
