"""Merlin's `testing_utils.model_test`, for ydnn: fit one step, save, load, compare, retrain.

Two differences, both forced by Keras 3 and by what ydnn trains on: the model
is saved as a `.keras` file (Keras 3 saves no SavedModel directory), and the
retraining step of the loaded model gets the batch through the fit's `pre`
(Merlin's `train_step` on a batch without targets trains nothing useful;
ydnn's refuses it).
"""

import os
import tempfile

import keras
import numpy as np

import ydnn as mm
from ydnn.io.loader import apply_transform


def model_test(
    model,
    dataset_or_loader,
    run_eagerly=True,
    optimizer="adam",
    epochs=1,
    reload_model=False,
    fit_kwargs=None,
    **kwargs,
):
    model.compile(run_eagerly=run_eagerly, optimizer=optimizer, **kwargs)
    if isinstance(dataset_or_loader, mm.Dataset):
        dataloader = mm.Loader(dataset_or_loader, batch_size=50)
    else:
        dataloader = dataset_or_loader
    batch = dataloader.peek()  # (features, targets), as Merlin's sample_batch
    fit_kwargs = fit_kwargs or {}
    losses = model.fit(dataloader, epochs=epochs, steps_per_epoch=1, **fit_kwargs)
    if reload_model:
        with tempfile.TemporaryDirectory() as tmpdir:
            path = os.path.join(tmpdir, "model.keras")
            model.save(path)
            loaded_model = keras.models.load_model(path)
        assert isinstance(loaded_model, type(model))
        np.testing.assert_array_almost_equal(
            model.predict(batch[0]), loaded_model.predict(batch[0])
        )
        loaded_model.compile(run_eagerly=run_eagerly, optimizer=optimizer, **kwargs)
        pre = fit_kwargs.get("pre")
        loaded_model.train_step(apply_transform(pre, batch) if pre else batch)
        return loaded_model, losses
    dataloader.stop()
    assert isinstance(model.from_config(model.get_config()), type(model))
    return model, losses
