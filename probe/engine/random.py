"""Random number generation: ``Generator``, ``manual_seed`` and the sampling functions.

Streams are reproducible for a given seed (NumPy's PCG64 on the CPU, CuPy's generator on a GPU);
they are not bit-identical to PyTorch's, so tests pass data in rather than relying on seeds.
"""

from __future__ import annotations

import json
import os

import numpy as np

from . import backend
from . import dtypes as _dt
from .grad_mode import STATE
from .ops._common import shape_arg
from .tensor import Tensor, _wrap

_DEFAULT_SEED = 67280421310721


class Generator:
    """A random stream for one device.

    >>> import probe
    >>> g = probe.Generator().manual_seed(0)
    >>> a = probe.randn(3, generator=g)
    >>> b = probe.randn(3, generator=probe.Generator().manual_seed(0))
    >>> bool((a == b).all())
    True
    """

    def __init__(self, device="cpu"):
        self.device = backend.device(device)
        if self.device.type == "cuda" and self.device.index is None:
            self.device = backend.device("cuda", 0)
        self._seed = _DEFAULT_SEED
        self._rng = None

    def _make(self, seed):
        if self.device.type == "cpu":
            return np.random.Generator(np.random.PCG64(seed))
        cupy = backend.xp_for(backend.canonical_device(self.device))
        return cupy.random.Generator(cupy.random.XORWOW(seed))

    @property
    def rng(self):
        if self._rng is None:
            self._rng = self._make(self._seed)
        return self._rng

    def manual_seed(self, seed) -> Generator:
        seed = int(seed)
        if seed < 0:
            seed &= 0xFFFF_FFFF_FFFF_FFFF
        self._seed = seed
        self._rng = self._make(seed)
        return self

    def seed(self) -> int:
        """Seed from the OS's entropy and return the new seed."""
        seed = int.from_bytes(os.urandom(8), "little") >> 1
        self.manual_seed(seed)
        return seed

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> Tensor:
        """The stream's state as a uint8 tensor (CPU generators)."""
        if self.device.type != "cpu":
            raise RuntimeError("get_state is only supported for CPU generators")
        payload = json.dumps({"seed": self._seed, "state": self.rng.bit_generator.state})
        return _wrap(np.frombuffer(payload.encode(), dtype=np.uint8).copy(), backend.CPU)

    def set_state(self, new_state: Tensor) -> Generator:
        data = new_state.numpy() if isinstance(new_state, Tensor) else np.asarray(new_state)
        try:
            payload = json.loads(bytes(data.astype(np.uint8)).decode())
            self._seed = payload["seed"]
            rng = self._make(self._seed)
            rng.bit_generator.state = payload["state"]
        except (ValueError, KeyError, TypeError) as exc:
            raise RuntimeError(f"Invalid generator state: {exc}") from None
        self._rng = rng
        return self

    def __repr__(self):
        return f"<probe.Generator object at {hex(id(self))}>"


default_generator = Generator("cpu")
_cuda_generators: dict = {}


def _generator_for(dev, generator):
    if generator is not None:
        if generator.device.type != dev.type:
            raise RuntimeError(
                f"Expected a '{dev.type}' device type for generator but found "
                f"'{generator.device.type}'"
            )
        return generator.rng
    if dev.type == "cpu":
        return default_generator.rng
    gen = _cuda_generators.get(dev.index)
    if gen is None:
        gen = _cuda_generators[dev.index] = Generator(dev)
        gen.manual_seed(default_generator.initial_seed())
    return gen.rng


def manual_seed(seed) -> Generator:
    """Seed the default generators of every device; returns the CPU one."""
    default_generator.manual_seed(seed)
    for gen in _cuda_generators.values():
        gen.manual_seed(seed)
    return default_generator


def seed() -> int:
    s = default_generator.seed()
    for gen in _cuda_generators.values():
        gen.manual_seed(s)
    return s


def initial_seed() -> int:
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default CPU generator's state (a uint8 tensor), for ``set_rng_state``."""
    return default_generator.get_state()


def set_rng_state(new_state) -> None:
    """Restore the default CPU generator's state from ``get_rng_state()``."""
    default_generator.set_state(new_state)


def cuda_manual_seed(seed) -> None:
    dev = backend.canonical_device("cuda")
    _cuda_generators.setdefault(dev.index, Generator(dev)).manual_seed(seed)


def cuda_manual_seed_all(seed) -> None:
    for i in range(backend.device_count()):
        _cuda_generators.setdefault(i, Generator(backend.device("cuda", i))).manual_seed(seed)


# ---------------------------------------------------------------------------------------------
# Sampling
# ---------------------------------------------------------------------------------------------

def _float_dtype(dtype):
    d = _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)
    if d.category != _dt.FLOATING:
        raise RuntimeError(f"expected a floating point dtype, got {d}")
    return _dt.numpy_dtype(d)


def _result(data, dev, requires_grad):
    t = _wrap(data, dev)
    if requires_grad:
        t.requires_grad_(True)
    if STATE.inference:
        t._is_inference = True
    return t


def _sample_float(rng, kind, shape, np_dtype):
    """Uniform [0, 1) or standard normal samples of ``np_dtype`` (float16 via float32)."""
    work = np_dtype if np_dtype in (np.float32, np.float64) else np.float32
    if kind == "uniform":
        out = rng.random(shape, dtype=work)
    else:
        out = rng.standard_normal(shape, dtype=work)
    return out if out.dtype == np_dtype else out.astype(np_dtype)


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, pin_memory=False):
    """Uniform samples on [0, 1)."""
    dev = backend.canonical_device(device)
    rng = _generator_for(dev, generator)
    data = _sample_float(rng, "uniform", shape_arg(size), _float_dtype(dtype))
    return _result(data, dev, requires_grad)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad=False, pin_memory=False):
    """Standard normal samples.

    >>> import probe
    >>> probe.randn(2, 3).shape
    probe.Size([2, 3])
    """
    dev = backend.canonical_device(device)
    rng = _generator_for(dev, generator)
    data = _sample_float(rng, "normal", shape_arg(size), _float_dtype(dtype))
    return _result(data, dev, requires_grad)


def randint(low=0, high=None, size=None, *, generator=None, out=None, dtype=None, layout=None,
            device=None, requires_grad=False):
    """Integers uniform on [low, high); ``randint(high, size)`` or ``randint(low, high, size)``."""
    if size is None:
        if high is None or not isinstance(high, tuple | list):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    if high <= low:
        raise RuntimeError(
            f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}"
        )
    dev = backend.canonical_device(device)
    rng = _generator_for(dev, generator)
    np_dtype = np.int64 if dtype is None else _dt.numpy_dtype(_dt.to_dtype(dtype))
    data = rng.integers(low, high, size=tuple(size), dtype=np.int64)
    return _result(data.astype(np_dtype, copy=False), dev, requires_grad)


def randperm(n, *, generator=None, out=None, dtype=None, layout=None, device=None,
             requires_grad=False, pin_memory=False):
    """A random permutation of ``0..n-1`` (int64)."""
    dev = backend.canonical_device(device)
    rng = _generator_for(dev, generator)
    np_dtype = np.int64 if dtype is None else _dt.numpy_dtype(_dt.to_dtype(dtype))
    return _result(rng.permutation(int(n)).astype(np_dtype, copy=False), dev, requires_grad)


def rand_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None):
    return rand(input._data.shape, dtype=dtype or input.dtype, device=device or input._device,
                requires_grad=requires_grad)


def randn_like(input, *, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None):
    return randn(input._data.shape, dtype=dtype or input.dtype, device=device or input._device,
                 requires_grad=requires_grad)


def randint_like(input, low=0, high=None, *, dtype=None, layout=None, device=None,
                 requires_grad=False, memory_format=None):
    if high is None:
        low, high = 0, low
    return randint(low, high, input._data.shape, dtype=dtype or input.dtype,
                   device=device or input._device)


def normal(mean=0.0, std=1.0, size=None, *, generator=None, out=None, dtype=None, layout=None,
           device=None, requires_grad=False):
    """Normal samples; ``mean``/``std`` may be tensors (elementwise) or numbers with ``size``."""
    if isinstance(mean, Tensor) or isinstance(std, Tensor):
        like = mean if isinstance(mean, Tensor) else std
        shape = np.broadcast_shapes(
            mean._data.shape if isinstance(mean, Tensor) else (),
            std._data.shape if isinstance(std, Tensor) else (),
        )
        noise = randn(shape, generator=generator, dtype=like.dtype, device=like._device)
        return noise * std + mean
    if size is None:
        raise TypeError("normal() missing required argument 'size'")
    return randn(size, generator=generator, dtype=dtype, device=device,
                 requires_grad=requires_grad) * std + mean if (mean, std) != (0.0, 1.0) else \
        randn(size, generator=generator, dtype=dtype, device=device, requires_grad=requires_grad)


def bernoulli(input, p=None, *, generator=None, out=None):
    """1 with probability ``input`` (or ``p``) elementwise, else 0; same dtype as ``input``."""
    dev = input._device
    rng = _generator_for(dev, generator)
    probs = input._data if p is None else p
    u = _sample_float(rng, "uniform", input._data.shape, np.float64 if
                      input._data.dtype == np.float64 else np.float32)
    return _wrap((u < probs).astype(input._data.dtype), dev)


def multinomial(input, num_samples, replacement=False, *, generator=None, out=None):
    """Indices sampled from the rows of ``input`` (unnormalised probabilities)."""
    dev = input._device
    rng = _generator_for(dev, generator)
    probs = backend.to_device_array(input._data, dev, backend.CPU).astype(np.float64)
    squeeze = probs.ndim == 1
    probs = probs.reshape(-1, probs.shape[-1])
    if (probs < 0).any() or not np.isfinite(probs).all():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    if not replacement and num_samples > probs.shape[-1]:
        raise RuntimeError(
            "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
        )
    host_rng = rng if dev.type == "cpu" else default_generator.rng
    rows = []
    for row in probs:
        total = row.sum()
        if total <= 0:
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        rows.append(host_rng.choice(row.size, size=num_samples, replace=replacement,
                                    p=row / total))
    result = np.stack(rows).astype(np.int64)
    if squeeze:
        result = result[0]
    return _wrap(backend.to_device_array(result, backend.CPU, dev), dev)


# In-place samplers (``Tensor.normal_`` ...): fill the tensor's buffer, bump its version.

def _fill_inplace(self, data):
    from .ops.inplace import check_inplace  # noqa: PLC0415

    check_inplace(self, STATE.enabled and self._requires_grad)
    self._data[...] = data
    self._vc[0] += 1
    return self


def normal_(self, mean=0.0, std=1.0, *, generator=None):
    rng = _generator_for(self._device, generator)
    data = _sample_float(rng, "normal", self._data.shape, self._data.dtype)
    return _fill_inplace(self, data * std + mean if (mean, std) != (0.0, 1.0) else data)


def uniform_(self, a=0.0, b=1.0, *, generator=None):
    rng = _generator_for(self._device, generator)
    data = _sample_float(rng, "uniform", self._data.shape, self._data.dtype)
    return _fill_inplace(self, data * (b - a) + a)


def bernoulli_(self, p=0.5, *, generator=None):
    rng = _generator_for(self._device, generator)
    probs = p._data if isinstance(p, Tensor) else p
    u = _sample_float(rng, "uniform", self._data.shape, np.float32)
    return _fill_inplace(self, (u < probs).astype(self._data.dtype))


def exponential_(self, lambd=1.0, *, generator=None):
    rng = _generator_for(self._device, generator)
    u = _sample_float(rng, "uniform", self._data.shape, np.float64)
    return _fill_inplace(self, (-np.log1p(-u) / lambd).astype(self._data.dtype))


def random_(self, from_=0, to=None, *, generator=None):
    rng = _generator_for(self._device, generator)
    if to is None:
        from_, to = 0, (from_ if from_ else 2**24 if self._data.dtype.kind == "f" else 2**31)
    return _fill_inplace(self, rng.integers(from_, to, size=self._data.shape))


TENSOR_METHODS = {
    "normal_": normal_, "uniform_": uniform_, "bernoulli_": bernoulli_,
    "exponential_": exponential_, "random_": random_, "bernoulli": bernoulli,
    "multinomial": multinomial,
}

FUNCTIONS = {
    "rand": rand, "randn": randn, "randint": randint, "randperm": randperm,
    "rand_like": rand_like, "randn_like": randn_like, "randint_like": randint_like,
    "normal": normal, "bernoulli": bernoulli, "multinomial": multinomial,
    "get_rng_state": get_rng_state, "set_rng_state": set_rng_state,
}
