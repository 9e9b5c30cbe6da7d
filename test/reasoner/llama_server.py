"""A real OpenAI-compatible inference server for the tests: llama.cpp's, serving a tiny model.

Why a real server: the ``openai`` backend is tested against what fleets run, over HTTP, with
its own spelling of structured output, its errors and its timing, rather than against a mock
that would agree with whatever the client assumes. No model can be downloaded on these
machines, so the model is built here: a SentencePiece tokenizer trained on the project's own
vocabulary and a randomly initialised two-layer Llama (140 k parameters), saved with
``transformers`` and converted to GGUF by the converter that the llama-cpp-python sdist vendors
(``tools/setup.sh --dev`` fetches it into ``build/``; the wheel does not ship it). Random
weights answer nonsense; constrained to the plan schema, that nonsense is a plan, which is what
the tests need. The server is ``python -m llama_cpp.server`` in a process of its own, stopped
with SIGTERM (SIGKILL after a timeout), and killed with the test process if that dies first.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path
from types import TracebackType

from muse_supervisor.domain import SKILLS, IncidentKind
from muse_supervisor.reasoner.backends import model as shared

VERSION = metadata.version('llama_cpp_python')
REPO = Path(__file__).resolve().parents[2]
CONVERTER = REPO / 'build' / 'llama.cpp-convert' / VERSION / 'convert_hf_to_gguf.py'
CHAT_TAGS = ('<|im_start|>', '<|im_end|>')
# ChatML. Only the text parts of a message are rendered: a model that takes no images shows
# none, rather than their base64 as text. Tool calls are rendered after the content.
CHAT_TEMPLATE = (
    '{%- for message in messages -%}'
    "{{- '<|im_start|>' + message['role'] + '\n' -}}"
    "{%- if message['content'] is string -%}{{- message['content'] -}}"
    "{%- elif message['content'] -%}{%- for part in message['content'] -%}"
    "{%- if part['type'] == 'text' -%}{{- part['text'] -}}{%- endif -%}{%- endfor -%}"
    '{%- endif -%}'
    "{%- if message['tool_calls'] -%}{%- for call in message['tool_calls'] -%}"
    "{{- '\n' + call['function']['name'] + ' ' + call['function']['arguments'] -}}"
    '{%- endfor -%}{%- endif -%}'
    "{{- '<|im_end|>\n' -}}"
    '{%- endfor -%}'
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\n' -}}{%- endif -%}"
)
_RUNNING: set[subprocess.Popen[bytes]] = set()


def converter() -> Path:
    """The vendored ``convert_hf_to_gguf.py`` of the installed llama-cpp-python."""
    if not CONVERTER.is_file():
        raise FileNotFoundError(
            f"{CONVERTER} is missing: tools/setup.sh --dev fetches llama.cpp's converter "
            f'(from the llama-cpp-python {VERSION} sdist)'
        )
    return CONVERTER


def corpus() -> list[str]:
    """Lines in the project's vocabulary: the prompt, the schema, skills, kinds, JSON."""
    kinds = [k.name.lower() for k in IncidentKind]
    skills = [spec.name for spec in SKILLS.values()]
    schema = json.dumps(shared.plan_schema(['charger_1', 'dock_1', 'aisle_1']))
    lines = [shared.SYSTEM, *shared.SYSTEM.split('. ')]
    lines += [schema[i : i + 200] for i in range(0, len(schema), 200)]
    for i, (kind, skill) in enumerate(zip(kinds * 8, skills * 8, strict=False)):
        lines.append(
            json.dumps(
                {
                    'hypothesis': kind,
                    'steps': [{'skill': skill, 'args': {}}],
                    'rationale': f'{kind} then {skill} at charger_{i % 3}',
                }
            )
        )
        lines.append(f'{CHAT_TAGS[0]}user\nIncident robot_{i}/{kind}: {skill}{CHAT_TAGS[1]}')
    lines += [
        f'{a} {b} {i}.{i % 7} m, {i * 3} s'
        for i, (a, b) in enumerate(zip(kinds, skills, strict=False))
    ]
    printable = ''.join(chr(c) for c in range(32, 127))
    return [*lines, printable, printable[::-1]] * 4


def build_tiny_model(folder: Path, convert: Path | None = None) -> Path:
    """A random tiny Llama with a trained tokenizer, as ``folder/tiny.gguf`` (f32)."""
    import sentencepiece
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, LlamaTokenizer

    hf = folder / 'hf'
    hf.mkdir(parents=True, exist_ok=True)
    spm = io.BytesIO()
    # BPE with byte fallback: every text has an encoding. The chat tags are control symbols: as
    # user-defined symbols llama.cpp would spell them out letter by letter.
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus()),
        model_writer=spm,
        vocab_size=512,
        model_type='bpe',
        byte_fallback=True,
        control_symbols=list(CHAT_TAGS),
        character_coverage=1.0,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    (hf / 'tokenizer.model').write_bytes(spm.getvalue())
    # No prefix space: then transformers and llama.cpp give the same ids.
    tokenizer = LlamaTokenizer.from_pretrained(
        str(hf),
        add_prefix_space=False,
        eos_token=CHAT_TAGS[1],
        unk_token='<unk>',
        bos_token='<s>',
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(str(hf))
    (hf / 'tokenizer.model').write_bytes(spm.getvalue())  # the converter reads this one
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    LlamaForCausalLM(config).save_pretrained(str(hf))
    out = folder / 'tiny.gguf'
    result = subprocess.run(
        [
            sys.executable,
            str(convert or converter()),
            str(hf),
            '--outtype',
            'f32',
            '--outfile',
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0 or not out.is_file():
        raise RuntimeError(
            f'GGUF conversion failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}'
        )
    return out


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        return int(probe.getsockname()[1])


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies (Linux PR_SET_PDEATHSIG)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG


class LlamaServer:
    """``python -m llama_cpp.server`` serving ``model`` on 127.0.0.1, as a context manager."""

    def __init__(
        self,
        model: Path,
        port: int | None = None,
        n_ctx: int = 2048,
        extra: Iterable[str] = (),
        log: Path | None = None,
    ) -> None:
        self.model, self.port, self.n_ctx = model, port or free_port(), n_ctx
        self.extra = tuple(extra)
        self.log = log or model.with_name(f'server-{self.port}.log')
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The OpenAI base URL."""
        return f'http://127.0.0.1:{self.port}/v1'

    def start(self, timeout: float = 60.0) -> LlamaServer:
        """Start the server and wait until it lists its model."""
        command = [
            sys.executable,
            '-m',
            'llama_cpp.server',
            '--model',
            str(self.model),
            '--host',
            '127.0.0.1',
            '--port',
            str(self.port),
            '--n_ctx',
            str(self.n_ctx),
            *self.extra,
        ]
        with self.log.open('ab') as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent,
                env={**os.environ, 'PYTHONUNBUFFERED': '1'},
            )
        _RUNNING.add(self.process)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f'llama.cpp server exited {self.process.returncode}: {self.log_tail()}'
                )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f'{self.url}/models', timeout=1.0) as answer,
            ):
                if answer.status == 200 and json.load(answer).get('data'):
                    return self
            time.sleep(0.1)
        self.kill()
        raise TimeoutError(f'llama.cpp server not ready in {timeout} s: {self.log_tail()}')

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout`` s; the exit code."""
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        _RUNNING.discard(process)
        return process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown of any kind."""
        process = self.process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)
        if process is not None:
            _RUNNING.discard(process)

    def alive(self) -> bool:
        """Whether the process runs."""
        return self.process is not None and self.process.poll() is None

    def log_tail(self, size: int = 3000) -> str:
        """The end of the server's log."""
        with contextlib.suppress(OSError):
            return self.log.read_bytes()[-size:].decode(errors='replace')
        return ''

    def __enter__(self) -> LlamaServer:
        return self.start() if self.process is None else self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def serving(model: Path, **options: object) -> Iterator[LlamaServer]:
    """A started server, stopped on the way out whatever happens."""
    server = LlamaServer(model, **options)  # type: ignore[arg-type]
    try:
        yield server.start()
    finally:
        server.stop()


@atexit.register
def _stop_all() -> None:  # a server a test forgot: never left behind
    for process in list(_RUNNING):
        with contextlib.suppress(Exception):
            process.kill()
            process.wait(5)
