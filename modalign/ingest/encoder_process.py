"""The mapper stage in a child process, so encoding overlaps reading and writing on another core.

An in-process job's reader and writer hold the GIL for long stretches (image decoding, ORM
writes, the store's flush), so a thread could not encode meanwhile. :class:`EncoderProcess`
starts one child (``spawn``: no torch, engine or store state is inherited) that loads the dual
encoders it is asked for, once each, and runs :func:`~modalign.ingest.encode.encode_inputs` on
the decoded inputs it is sent, in order. The parent keeps the catalog and the vector store to
itself. Requests are queued (the caller bounds how many are outstanding); replies come back in
the order sent.

A reply is either the outputs or the error the sequential path would have raised
(:class:`~modalign.errors.EncoderError` for a broken encoder, a
:class:`~modalign.errors.TransientError`, ...), raised again in the parent by :meth:`receive`.
A child that dies makes :meth:`receive` raise :class:`EncoderError`; the next :meth:`submit`
starts a new child. A parent that dies (even by SIGKILL, which runs no cleanup) takes the child
with it: the child asks the kernel for SIGKILL when its parent thread ends (``PR_SET_PDEATHSIG``),
so no orphan encoder keeps a core busy.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing as mp
import os
import queue
import signal
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING, Any

from modalign.config import Settings
from modalign.errors import EncoderError, ModalignError
from modalign.faults import fault_point
from modalign.ingest.encode import CANARY_TEXT, EncodeInput, EncodeOutput, canary_image

if TYPE_CHECKING:
    from modalign.encoders.dual import DualEncoder

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # prctl option, <linux/prctl.h>
POLL_SECONDS = 0.5  # how often a wait for a reply checks that the child is alive
STOP_SECONDS = 10.0


@dataclass(frozen=True)
class EncodeRequest:
    """Encode ``inputs`` with model version ``version`` (no inputs: just load it)."""

    seq: int
    version: str
    inputs: list[EncodeInput]


@dataclass(frozen=True)
class EncodeReply:
    """The outputs of request ``seq`` and the child's seconds spent on it, or its error."""

    seq: int
    outputs: list[EncodeOutput]
    seconds: float
    error: ModalignError | None = None


class EncoderProcess:
    """A child process that encodes for this one (see the module docstring)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._context = mp.get_context("spawn")
        self._process: BaseProcess | None = None
        self._requests: Any = None
        self._replies: Any = None
        self._outstanding: deque[int] = deque()
        self._seq = 0

    @property
    def outstanding(self) -> int:
        """Requests sent whose reply has not been received."""
        return len(self._outstanding)

    def load(self, version: str) -> None:
        """Start the child (if needed) and have it load ``version`` meanwhile; no reply."""
        self._send(version, [], expect_reply=False)

    def submit(self, version: str, inputs: list[EncodeInput]) -> None:
        """Queue a request; its reply comes from :meth:`receive`, in the order submitted."""
        self._send(version, inputs, expect_reply=True)

    def receive(self) -> EncodeReply:
        """The reply to the oldest outstanding request; raises its error if it has one."""
        if not self._outstanding:
            raise EncoderError("no encode request is outstanding")
        expected = self._outstanding.popleft()
        reply = self._next_reply()
        if reply.seq != expected:
            self._abandon()
            raise EncoderError(f"encoder process replied to {reply.seq}, expected {expected}")
        if reply.error is not None:
            raise reply.error
        return reply

    def drain(self) -> None:
        """Receive and drop every outstanding reply (errors included)."""
        while self._outstanding:
            try:
                self.receive()
            except ModalignError as exc:
                log.debug("dropped an encoder reply: %s", exc)

    def close(self) -> None:
        """Stop the child at once (it holds nothing that needs a clean shutdown)."""
        self._abandon()

    # -- internals ---------------------------------------------------------------------------

    def _send(self, version: str, inputs: list[EncodeInput], *, expect_reply: bool) -> None:
        process = self._process
        if process is None or not process.is_alive():
            if process is not None and self._outstanding:  # replies owed by a dead child
                code = process.exitcode
                self._abandon()
                raise EncoderError(f"the encoder process exited (code {code})")
            self._start()
        self._seq += 1
        seq = self._seq if expect_reply else -self._seq
        self._requests.put(EncodeRequest(seq, version, inputs))
        if expect_reply:
            self._outstanding.append(seq)

    def _start(self) -> None:
        if self._process is not None:
            self._release()
        self._requests = self._context.Queue()
        self._replies = self._context.Queue()
        level = logging.getLogger().getEffectiveLevel()
        self._process = self._context.Process(
            target=serve,
            args=(self._settings, self._requests, self._replies, level, os.getpid()),
            name="modalign-encoder",
            daemon=True,
        )
        self._process.start()
        log.info("started encoder process %d", self._process.pid)

    def _next_reply(self) -> EncodeReply:
        process = self._process
        assert process is not None
        while True:
            try:
                reply: EncodeReply = self._replies.get(timeout=POLL_SECONDS)
                return reply
            except queue.Empty:
                if not process.is_alive():
                    code = process.exitcode
                    self._abandon()
                    raise EncoderError(f"the encoder process exited (code {code})") from None

    def _abandon(self) -> None:
        """Stop the child if it runs and forget what it owed. SIGTERM makes it exit through
        its normal shutdown, so the semaphores its libraries created are released (killed
        outright, it would leave the parent's resource tracker warning about them at exit)."""
        self._outstanding.clear()
        process = self._process
        if process is not None and process.is_alive():
            process.terminate()
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join(STOP_SECONDS)
        self._release()

    def _release(self) -> None:
        for channel in (self._requests, self._replies):
            if channel is not None:
                channel.close()
                channel.cancel_join_thread()
        self._process = self._requests = self._replies = None
        self._outstanding.clear()


def serve(
    settings: Settings, requests: Any, replies: Any, log_level: int, parent_pid: int
) -> None:
    """The child's loop: load encoders on first use, answer requests in order until None (or
    until the parent is gone). Ctrl-C is the parent's to handle: it stops this process."""
    _die_with_parent(parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_now)
    logging.basicConfig(
        level=log_level, format="%(asctime)s %(levelname)s %(name)s [encoder] %(message)s"
    )
    threads = str(settings.encoders.torch_threads)
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(name, threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    encoders: dict[str, DualEncoder] = {}
    while (request := _next_request(requests)) is not None:
        if request.inputs:
            fault_point("encoder.child")
        reply = _answer(settings, encoders, request)
        if request.seq > 0:
            replies.put(reply)


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel SIGKILL this process when its parent dies; exit now if it already has
    (it died before the request was made, and this process was handed to another parent)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    except (OSError, AttributeError) as exc:  # not Linux: the request pipe's EOF must do
        log.warning("encoder process cannot follow its parent's death: %s", exc)
    if os.getppid() != parent_pid:
        os._exit(0)


def _exit_now(signum: int, frame: Any) -> None:
    raise SystemExit(0)  # unwinds through multiprocessing's shutdown (finalizers run)


def _next_request(requests: Any) -> EncodeRequest | None:
    """The next request; None when told to stop or when the parent has gone."""
    try:
        request: EncodeRequest | None = requests.get()
    except (EOFError, OSError):
        return None
    return request


def _answer(
    settings: Settings, encoders: dict[str, DualEncoder], request: EncodeRequest
) -> EncodeReply:
    from modalign.ingest.encode import encode_inputs

    start = time.perf_counter()
    try:
        encoder = _encoder(settings, encoders, request.version)
        outputs = encode_inputs(encoder, request.inputs) if request.inputs else []
    except ModalignError as exc:
        return EncodeReply(request.seq, [], time.perf_counter() - start, exc)
    except Exception as exc:  # an unexpected error must reach the parent, not kill the child
        log.exception("encoding request %d failed", request.seq)
        error = EncoderError(f"encoder process: {type(exc).__name__}: {exc}")
        return EncodeReply(request.seq, [], time.perf_counter() - start, error)
    return EncodeReply(request.seq, outputs, time.perf_counter() - start)


def _encoder(settings: Settings, encoders: dict[str, DualEncoder], version: str) -> DualEncoder:
    """The version's encoder, loaded with its towers on first use."""
    if version not in encoders:
        from modalign.encoders.load import load_dual_encoder

        log.info("loading encoder %s", version)
        encoder = load_dual_encoder(settings, version)
        _warm_up(encoder)
        encoders[version] = encoder
    return encoders[version]


def _warm_up(encoder: DualEncoder) -> None:
    """Load both towers now; a tower that cannot load is reported by the requests themselves."""
    try:
        encoder.encode_images([canary_image()])
        encoder.encode_texts([CANARY_TEXT])
    except Exception as exc:
        log.warning("encoder %s failed its warm-up: %s", encoder.version, exc)
