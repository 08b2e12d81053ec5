"""The HTTP port: the same three services over Connect (JSON and binary) and gRPC-Web for
browsers and curl, plus a small live console page at `/`.

`rpc.py` routes every RPC of the service descriptors to the SAME servicer instances the gRPC
port serves, behind the same auth, scope table and error mapping; `app.py` adds CORS and the
console; `listener.py` runs it with uvicorn in the gRPC server's event loop.
"""

from .app import build_http_app
from .listener import HttpListener
from .rpc import CallRecorder, ConnectRoutes

__all__ = ["CallRecorder", "ConnectRoutes", "HttpListener", "build_http_app"]
