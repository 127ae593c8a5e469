"""Type aliases of the public signatures.

The ops take what TensorFlow converts (tensors, variables, NumPy arrays,
lists) and the arrays API takes NumPy or CuPy arrays and answers on the
input's device; neither has one static type, so these aliases name the role.
"""

from typing import Any, TypeAlias

TensorLike: TypeAlias = Any  # tf.Tensor, tf.Variable, tf.RaggedTensor, NumPy array or list
ArrayLike: TypeAlias = Any  # NumPy array (or what np.asarray takes) or CuPy array
Array: TypeAlias = Any  # numpy.ndarray or cupy.ndarray, on the input's device
