"""The active backend's kernel module, for the per-step MyTorch cells.

A one-row GRU step costs a few microseconds in the kernel; the argument checks of
``rnnfast.functional`` cost more than that, so the cells call the kernel module
(``rnnfast.backend_kernels``) directly with arrays they allocated and checked themselves,
cached per backend name so a step pays one dictionary lookup.
"""
import rnnfast

_by_name: dict = {}


def kernels():
    """Kernel module of ``rnnfast.get_backend()`` (the thread's or global choice)."""
    name = rnnfast.get_backend()
    k = _by_name.get(name)
    if k is None:
        k = _by_name[name] = rnnfast.backend_kernels(name)
    return k
