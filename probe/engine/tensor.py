"""``Tensor``: an array, its device, and its place in the autograd graph.

The methods that are operations (``add``, ``sum``, ``view``...) are attached by
``probe.engine.tensor_methods`` once the op modules are loaded; this module holds the state,
the attributes and the autograd entry points.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import dtypes as _dt
from .backend import CPU
from .formatting import default_dtype_suffix_needed, format_tensor
from .hooks import HookDict, RemovableHandle

_new = object.__new__
_from_np = _dt._BY_NUMPY


class Size(tuple):
    """A tensor shape, ``probe.Size([2, 3])`` (a tuple of ints)."""

    __slots__ = ()

    def numel(self) -> int:
        n = 1
        for s in self:
            n *= s
        return n

    def __repr__(self):
        return f"probe.Size({list(self)})"

    def __getitem__(self, item):
        result = tuple.__getitem__(self, item)
        return Size(result) if isinstance(item, slice) else result

    def __add__(self, other):
        return Size(tuple.__add__(self, tuple(other)))


NON_LEAF_GRAD_WARNING = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad field "
    "to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. If you "
    "access the non-leaf Tensor by mistake, make sure you access the leaf Tensor instead. See "
    "github.com/pytorch/pytorch/pull/30531 for more information."
)


class Tensor:
    """A multi-dimensional array with autograd, on the CPU (NumPy) or a CUDA GPU (CuPy).

    >>> import probe
    >>> w = probe.tensor([1.0, 2.0], requires_grad=True)
    >>> (w * w).sum().backward()
    >>> w.grad
    tensor([2., 4.])
    """

    # Hot state lives in slots; rarely set state falls back to the class defaults below and is
    # stored in the instance dict only when set.
    __slots__ = ("_data", "_device", "_requires_grad", "_grad_fn", "_vc", "__dict__", "__weakref__")

    _grad = None
    _output_nr = 0
    _base = None
    _hooks = None
    _post_acc_hooks = None
    _retains_grad = False
    _is_inference = False
    _accumulate_node = None
    _view_replay = None  # for views: how to re-derive this view from its base
    _multi_view = False  # a (view of an) output of a multi-output view op such as split
    # A leaf is a position in the backward graph too; these defaults let the engine treat leaves
    # and nodes alike (no edges, one output, accumulated before any node that is also ready).
    _is_leaf_target = True
    _edges = ()
    _num_outputs = 1
    _sequence_nr = 2**62

    # ndarray op Tensor defers to Tensor's reflected operators.
    __array_priority__ = 1000

    def __new__(cls, *args, **kwargs):
        # ``probe.Tensor(2, 3)`` (uninitialised float32) or ``probe.Tensor([1, 2])`` (data).
        from .ops.creation import _legacy_tensor_new  # noqa: PLC0415

        return _legacy_tensor_new(cls, *args, **kwargs)

    # ------------------------------------------------------------------ shape and type
    @property
    def shape(self) -> Size:
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[_wrap_dim(dim, self._data.ndim)]

    def dim(self) -> int:
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def numel(self) -> int:
        return int(self._data.size)

    nelement = numel

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    @property
    def dtype(self) -> _dt.dtype:
        return _from_np[self._data.dtype]

    @property
    def device(self):
        return self._device

    @property
    def is_cuda(self) -> bool:
        return self._device.type == "cuda"

    @property
    def is_cpu(self) -> bool:
        return self._device.type == "cpu"

    is_meta = False
    is_sparse = False
    is_quantized = False

    def is_floating_point(self) -> bool:
        return self._data.dtype.kind == "f"

    def is_complex(self) -> bool:
        return self._data.dtype.kind == "c"

    def element_size(self) -> int:
        return self._data.itemsize

    @property
    def itemsize(self) -> int:
        return self._data.itemsize

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes)

    def stride(self, dim=None):
        item = self._data.itemsize
        strides = tuple(s // item for s in self._data.strides)
        return strides if dim is None else strides[_wrap_dim(dim, self._data.ndim)]

    def is_contiguous(self, memory_format=None) -> bool:
        return bool(self._data.flags.c_contiguous)

    def data_ptr(self) -> int:
        if self._device.type == "cpu":
            return int(self._data.__array_interface__["data"][0])
        return int(self._data.data.ptr)

    def type(self, dtype=None, non_blocking=False, **kwargs):
        """With no argument, the legacy type name (``'probe.FloatTensor'``); otherwise a cast."""
        if dtype is None:
            prefix = "probe.cuda." if self._device.type == "cuda" else "probe."
            return prefix + self.dtype._legacy_name
        return self.to(_dt.to_dtype(dtype))

    def type_as(self, other):
        return self.to(other.dtype)

    def get_device(self) -> int:
        return -1 if self._device.type == "cpu" else self._device.index

    # ------------------------------------------------------------------ autograd state
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        """Set ``requires_grad`` in place on a leaf and return ``self``."""
        if self._grad_fn is not None:
            if requires_grad:
                return self
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError("only Tensors of floating point dtype can require gradients")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def grad_fn(self):
        return self._grad_fn

    @property
    def is_leaf(self) -> bool:
        return self._grad_fn is None

    @property
    def output_nr(self) -> int:
        return self._output_nr

    @property
    def grad(self):
        if self._grad_fn is not None and not self._retains_grad:
            warnings.warn(NON_LEAF_GRAD_WARNING, UserWarning, stacklevel=2)
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(
                    f"assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value._data.shape != self._data.shape:
                raise RuntimeError(
                    f"attempting to assign a gradient of size '{list(value._data.shape)}' to a "
                    f"tensor of size '{list(self._data.shape)}'. Please ensure that the gradient "
                    "and the tensor are the same size"
                )
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(
                    "attempting to assign a gradient with dtype "
                    f"'{value.dtype._short_name}' to a tensor with dtype "
                    f"'{self.dtype._short_name}'. Please ensure that the gradient and the tensor "
                    "have the same dtype"
                )
            if value._device is not self._device:
                raise RuntimeError(
                    f"attempting to assign a gradient located on device with index "
                    f"'{value.get_device()}' to a tensor located on device with index "
                    f"'{self.get_device()}'. Please ensure that the gradient and the tensor are "
                    "on the same device"
                )
        self._grad = value

    @grad.deleter
    def grad(self):
        self._grad = None

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def retain_grad(self) -> None:
        """Populate ``.grad`` of this non-leaf tensor during backward (no-op on leaves)."""
        if self._grad_fn is None:
            if not self._requires_grad:
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            return
        if self._retains_grad:
            return
        node = self._grad_fn
        if node._retain_grad_outputs is None:
            node._retain_grad_outputs = {}
        import weakref  # noqa: PLC0415

        node._retain_grad_outputs[self._output_nr] = weakref.ref(self)
        node._has_pre_hooks = True
        self._retains_grad = True

    @property
    def _version(self) -> int:
        return self._vc[0]

    def _bump_version(self):
        self._vc[0] += 1

    def is_inference(self) -> bool:
        return self._is_inference

    def register_hook(self, hook):
        """``hook(grad) -> Tensor | None`` runs when the gradient for this tensor is computed; a
        returned tensor replaces the gradient that flows on (and, on a leaf, into ``.grad``).

        >>> import probe
        >>> w = probe.ones(2, requires_grad=True)
        >>> h = w.register_hook(lambda g: g * 10)
        >>> (w * 2).sum().backward()
        >>> w.grad
        tensor([20., 20.])
        """
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._grad_fn is None:
            if self._hooks is None:
                self._hooks = HookDict()
            hooks = self._hooks
        else:
            node = self._grad_fn
            if node._tensor_pre_hooks is None:
                node._tensor_pre_hooks = {}
            node._has_pre_hooks = True
            hooks = node._tensor_pre_hooks.get(self._output_nr)
            if hooks is None:
                hooks = node._tensor_pre_hooks[self._output_nr] = HookDict()
        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor)`` runs on a leaf after its ``.grad`` has been updated by backward."""
        if self._grad_fn is not None:
            raise RuntimeError(
                "post accumulate grad hooks cannot be registered on non-leaf tensors"
            )
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        if self._post_acc_hooks is None:
            self._post_acc_hooks = HookDict()
        handle = RemovableHandle(self._post_acc_hooks)
        self._post_acc_hooks[handle.id] = hook
        return handle

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate the gradient of this tensor into the ``.grad`` of the graph's leaves."""
        from .autograd import run_backward  # noqa: PLC0415

        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
            if not inputs:
                raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
        run_backward([self], [gradient], retain_graph, create_graph, inputs=inputs,
                     accumulate=True)

    def detach(self):
        """A tensor sharing storage and version counter, cut from the graph."""
        t = _wrap(self._data, self._device)
        t._vc = self._vc
        if self._is_inference:
            t._is_inference = True
        return t

    def detach_(self):
        if self._base is not None and self._base._requires_grad:
            raise RuntimeError(
                "Can't detach views in-place. Use detach() instead. If you are using "
                "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set as "
                "True, gradients are views of DDP buckets, and hence detach_() cannot be called on "
                "these gradients. To fix this error, please refer to the Optimizer.zero_grad() "
                "function in torch/optim/optimizer.py as the solution."
            )
        self._grad_fn = None
        self._requires_grad = False
        return self

    @property
    def data(self):
        """The same storage, outside autograd (changes through it are not version-tracked)."""
        return _wrap(self._data, self._device)

    @data.setter
    def data(self, value):
        if not isinstance(value, Tensor):
            raise TypeError(f"data must be a Tensor, got {type(value).__name__}")
        self._data = value._data
        self._device = value._device

    # ------------------------------------------------------------------ conversion
    def numpy(self, *, force=False):
        """The tensor's data as a NumPy array sharing memory (CPU tensors)."""
        if self._requires_grad and not force:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        if self._device.type != "cpu":
            if not force:
                raise TypeError(
                    f"can't convert {self._device} device type tensor to numpy. Use Tensor.cpu() "
                    "to copy the tensor to host memory first."
                )
            return self._data.get()
        return self._data

    def __array__(self, dtype=None, copy=None):
        data = self.numpy()
        if dtype is not None and data.dtype != dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def item(self):
        """The single value of a one-element tensor as a Python number."""
        if self._data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self._data.size} elements cannot be converted to Scalar"
            )
        value = self._data.reshape(()).item() if self._device.type == "cpu" else self._data.item()
        return value

    def tolist(self):
        data = self._data if self._device.type == "cpu" else self._data.get()
        return data.tolist()

    def __bool__(self):
        if self._data.size != 1:
            if self._data.size == 0:
                raise RuntimeError("Boolean value of Tensor with no values is ambiguous")
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(())) if self._device.type == "cpu" else bool(self.item())

    def _python_scalar(self):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self.item()

    def __float__(self):
        return float(self._python_scalar())

    def __int__(self):
        return int(self._python_scalar())

    def __complex__(self):
        return complex(self._python_scalar())

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __hash__(self):
        return id(self)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return iter(self.unbind(0))

    def __reversed__(self):
        return iter(self.flip(0).unbind(0))

    def __contains__(self, element):
        return bool((self == element).any())

    def __repr__(self, *, tensor_contents=None):
        data = self._data if self._device.type == "cpu" else self._data.get()
        suffixes = []
        if self._device.type != "cpu":
            suffixes.append(f"device='{self._device}'")
        if default_dtype_suffix_needed(data.dtype, empty=data.size == 0):
            suffixes.append(f"dtype={self.dtype}")
        if self._grad_fn is not None:
            suffixes.append(f"grad_fn=<{type(self._grad_fn).__name__}>")
        elif self._requires_grad:
            suffixes.append("requires_grad=True")
        return format_tensor(data, suffixes=suffixes)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:
            return self.item().__format__(spec)
        return object.__format__(self, spec)

    def __reduce_ex__(self, protocol):
        data = self._data if self._device.type == "cpu" else self._data.get()
        return (_rebuild, (np.array(data), str(self._device), self._requires_grad))

    def __deepcopy__(self, memo):
        if self._grad_fn is not None:
            raise RuntimeError(
                "Only Tensors created explicitly by the user (graph leaves) support the deepcopy "
                "protocol at the moment.  If you were attempting to deepcopy a module, this may be "
                "because of a torch.nn.utils.weight_norm usage, see "
                "https://github.com/pytorch/pytorch/pull/103001"
            )
        new = _wrap(self._data.copy(), self._device)
        new.__class__ = type(self)
        new._requires_grad = self._requires_grad
        if self._grad is not None:
            new._grad = self._grad.__deepcopy__(memo)
        memo[id(self)] = new
        return new


def _rebuild(data, device, requires_grad):
    from .backend import canonical_device, to_device_array  # noqa: PLC0415

    dev = canonical_device(device)
    t = _wrap(to_device_array(data, CPU, dev), dev)
    t._requires_grad = requires_grad
    return t


def _wrap(data, dev):
    """A new tensor around ``data`` (no copy); the engine's one way to make tensors."""
    t = _new(Tensor)
    t._data = data
    t._device = dev
    t._requires_grad = False
    t._grad_fn = None
    t._vc = [0]
    return t


def _wrap_dim(dim, ndim):
    """A dimension index in ``[0, ndim)`` from one in ``[-ndim, ndim)``; PyTorch's IndexError."""
    n = ndim if ndim > 0 else 1
    if not -n <= dim < n:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim + n if dim < 0 else dim


def is_tensor(obj) -> bool:
    """True for probe tensors (and Parameters)."""
    return isinstance(obj, Tensor)
