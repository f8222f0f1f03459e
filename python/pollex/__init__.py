# SPDX-License-Identifier: ISC
"""pollex: Python client of pollexd, the batched poll executor daemon.

- :class:`Client`: a blocking client, one method per io.pollex method.
- :class:`Executor`: a concurrent.futures.Executor whose futures are tasks
  of one poller, all served by one thread and one streamed Wait.
- :mod:`pollex.aio`: the asyncio client.

Standard library only.  See python/README.md.
"""

from .client import Client, Connection
from .errors import *  # noqa: F401,F403
from .errors import __all__ as _errors_all
from .executor import Executor, Future
from .types import *  # noqa: F401,F403
from .types import __all__ as _types_all
from ._wire import default_socket, SYSTEM_SOCKET

__version__ = "0.1.0"

__all__ = (["Client", "Connection", "Executor", "Future", "default_socket",
            "SYSTEM_SOCKET"] + list(_errors_all) + list(_types_all))
