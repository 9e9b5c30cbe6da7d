"""The ``transformers`` backend with a real (tiny, random) Idefics3 model, built offline.

The model is SmolVLM's architecture with random weights, a tokenizer trained here and a
64-pixel image processor, saved to a folder and loaded back exactly as a real local SmolVLM
would be (``AutoProcessor`` + ``AutoModelForImageTextToText``, ``local_files_only``). Knowing
nothing, it shows what the constraint, the validator and the fallbacks do with any output.

``build_random_model`` is also what ``bench/reasoner_local_vlm.py`` measures with.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from test_reasoner import CONFIG, GATE, GLOSSARY, LIBRARY, POSE, WORLD, _alarm, _bundle

from muse_supervisor.reasoner.backends import model as shared
from muse_supervisor.reasoner.backends.local_vlm import TransformersBackend, tool_call_schema
from muse_supervisor.reasoner.core import (
    Candidate,
    Moment,
    Reasoner,
    ReasonerSettings,
    validate_candidate,
)
from muse_supervisor.reasoner.embeddings import TextEmbedder
from muse_supervisor.reasoner.facts import RobotState
from muse_supervisor.reasoner.maintenance import open_maintenance_log
from muse_supervisor.reasoner.tools import ToolBox
from muse_supervisor.safety.plans import moves_robot

REPO = Path(__file__).resolve().parents[2]
FRAME = np.zeros((48, 64, 3), dtype=np.uint8)
FRAME[:, :, 2] = 255  # pure red, in OpenCV's BGR order


# A tiny random model, built offline ------------------------------------------------------------

_CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] | capitalize }}:"
    "{% for part in message['content'] %}{% if part['type'] == 'image' %}<image>"
    "{% else %}{{ part['text'] }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}"
    '{% if add_generation_prompt %}<|im_start|>Assistant:{% endif %}'
)


def build_random_model(folder: Path, seed: int = 0, vocab: int = 1024) -> Path:
    """Write a tiny randomly initialised Idefics3 model (SmolVLM's architecture) to ``folder``.

    No machine here can download a real vision-language model, yet the backend's whole path
    (processor and model from a local folder, the chat template with images, pixel values
    through the vision tower, constrained ``generate()``) must run. The byte-level BPE
    tokenizer is trained on the prompt's own words; the image processor takes images at 64
    pixels without tiling: four image tokens each. About 1 MB.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3Processor,
        PreTrainedTokenizerFast,
    )
    from transformers.models.idefics3.image_processing_pil_idefics3 import (
        Idefics3ImageProcessorPil,
    )

    from muse_supervisor.domain import SKILLS, IncidentKind

    specials = ['<|endoftext|>', '<|im_start|>', '<end_of_utterance>',
                '<fake_token_around_image>', '<image>', '<global-img>',
                *(f'<row_{r}_col_{c}>' for r in range(1, 7) for c in range(1, 7))]  # fmt: skip
    skills = [spec.name for spec in SKILLS.values()]
    kinds = [kind.name.lower() for kind in IncidentKind]
    schema = shared.plan_schema([w.name for w in GATE.waypoints], for_generation=True)
    corpus = [shared.SYSTEM, json.dumps(schema),
              ' '.join(skills + kinds), 'Incident robot_1 alarm log mission procedure tool',
              *(json.dumps({'hypothesis': kind, 'steps': [{'skill': skill, 'args': {}}],
                            'rationale': f'{skill} because {kind}'})
                for kind, skill in zip(kinds, skills, strict=False))]  # fmt: skip
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )  # fmt: skip
    tokenizer.train_from_iterator(corpus * 4, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, bos_token='<|im_start|>', eos_token='<end_of_utterance>',
        pad_token='<|endoftext|>', unk_token='<|endoftext|>',
    )  # fmt: skip
    images = Idefics3ImageProcessorPil(
        size={'longest_edge': 64}, max_image_size={'longest_edge': 64}, do_image_splitting=False
    )
    processor = Idefics3Processor(
        image_processor=images, tokenizer=fast, image_seq_len=4, chat_template=_CHAT_TEMPLATE
    )
    config = Idefics3Config(
        vision_config={'hidden_size': 32, 'intermediate_size': 64, 'num_hidden_layers': 1,
                       'num_attention_heads': 2, 'image_size': 64, 'patch_size': 16},
        text_config={'model_type': 'llama', 'hidden_size': 64, 'intermediate_size': 128,
                     'num_hidden_layers': 2, 'num_attention_heads': 4, 'num_key_value_heads': 2,
                     'vocab_size': len(fast), 'max_position_embeddings': 4096,
                     'pad_token_id': fast.pad_token_id, 'bos_token_id': fast.bos_token_id,
                     'eos_token_id': fast.eos_token_id},
        image_token_id=fast.get_vocab()['<image>'], scale_factor=2,
    )  # fmt: skip
    torch.manual_seed(seed)
    network = Idefics3ForConditionalGeneration(config)
    network.generation_config.eos_token_id = fast.eos_token_id
    network.generation_config.pad_token_id = fast.pad_token_id
    folder.mkdir(parents=True, exist_ok=True)
    network.save_pretrained(str(folder))
    processor.save_pretrained(str(folder))
    return folder


# Fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope='module', autouse=True)
def offline() -> Iterator[None]:
    """No hub, ever: what every machine here has (and the backend asks for anyway)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv('HF_HUB_OFFLINE', '1')
        try:
            import huggingface_hub.constants

            patch.setattr(huggingface_hub.constants, 'HF_HUB_OFFLINE', True)
        except ImportError:
            pass
        yield


@pytest.fixture(scope='module')
def model_dir(tmp_path_factory: pytest.TempPathFactory, offline: None) -> Path:
    return build_random_model(tmp_path_factory.mktemp('tiny_idefics3'))


@pytest.fixture(scope='module')
def backend(model_dir: Path) -> TransformersBackend:
    loaded = TransformersBackend(model_dir)
    loaded.load()
    return loaded


@pytest.fixture(scope='module')
def embedder() -> TextEmbedder:
    model = TextEmbedder()
    model.load()
    return model


@pytest.fixture(autouse=True)
def seeded() -> None:
    import torch

    torch.manual_seed(7)


class Recording:
    """A backend that remembers the moments and candidates of the backend it wraps."""

    def __init__(self, inner: TransformersBackend) -> None:
        self.inner = inner
        self.name = inner.name
        self.moments: list[Moment] = []
        self.found: list[Candidate] = []

    def candidates(self, moment: Moment, tools: ToolBox) -> list[Candidate]:
        self.moments.append(moment)
        self.found = self.inner.candidates(moment, tools)
        return self.found


def _reasoner(embedder: TextEmbedder, backend: Any, **overrides: float) -> Reasoner:
    settings = {'instant_deadline': 30.0, 'thinking_deadline': 60.0, **overrides}
    return Reasoner(
        LIBRARY, embedder.embed, GLOSSARY, GATE, WORLD, backend=backend,
        maintenance=open_maintenance_log('', CONFIG / 'maintenance' / 'history.csv'),
        settings=ReasonerSettings(**settings),  # type: ignore[arg-type]
    )  # fmt: skip


def _motor() -> Any:
    return _bundle((_alarm('Überstrom Antrieb links', source='drive_left'),))


# Constrained decoding -------------------------------------------------------------------------


def test_every_constrained_answer_is_a_plan_and_free_text_is_not(
    model_dir: Path, embedder: TextEmbedder
) -> None:
    # Room for a whole answer: the random model writes every string to its maximum length,
    # and an answer cut by the token cap is not JSON (what the cap costs is the bench's).
    backend = TransformersBackend(model_dir, max_new_tokens_thinking=1024)
    recording = Recording(backend)
    reasoner = _reasoner(embedder, recording, candidates=12)
    reasoner.propose(_motor(), RobotState(pose=POSE), 'thinking')
    assert backend.answers == 12
    assert backend.unparsed == 0, backend.last_errors
    assert len(recording.found) == 12
    assert len({c.plan.id for c in recording.found}) == 12
    assert all(c.generator == 'transformers/thinking' for c in recording.found)
    # The same model and prompt without the constraint: nothing reads as a plan.
    moment = recording.moments[0]
    free = backend.complete(shared.prompt(moment, []), schema=None, count=12, sample=True)
    assert len(free.texts) == 12
    for index, text in enumerate(free.texts):
        with pytest.raises(shared.ModelAnswerError):
            shared.read_plan(text, moment, index, 'free')


def test_the_tool_call_schema_binds_each_tool_to_its_own_arguments() -> None:
    schema = tool_call_schema({'sop': {'type': 'object', 'properties': {'kind': {'enum': ['x']}}}})
    names = [option['properties']['tool']['const'] for option in schema['anyOf']]
    assert names == ['sop', 'none']
    assert schema['anyOf'][0]['properties']['arguments']['properties']['kind'] == {'enum': ['x']}


# Through the reasoner -------------------------------------------------------------------------


def test_thinking_plans_are_all_valid_and_the_model_tool_calls_are_traced(
    backend: TransformersBackend, embedder: TextEmbedder
) -> None:
    reasoner = _reasoner(embedder, backend)
    robot = RobotState(pose=POSE)
    called: list[str] = []
    from_model = 0
    for _ in range(3):
        proposal = reasoner.propose(_motor(), robot, 'thinking', frames=[('camera', FRAME)])
        assert proposal.plans and proposal.backend == 'transformers'
        facts = {'person': False, 'estop': False}
        for ranked in proposal.plans:
            assert validate_candidate(ranked.plan, GATE, facts) == ''
        from_model += sum(p.candidate.generator == 'transformers/thinking' for p in proposal.plans)
        # Answers the gate's validator refused are dropped with the reason.
        assert all(': ' in reason for reason in proposal.dropped)
        tools = [entry.tool for entry in proposal.trace]
        assert tools.count('sop') >= 2  # the reasoner's look-up and the backend's
        # What the model chose to call ran through the pass's tool box, in order.
        chosen = backend.last_tool_calls
        model_part = tools[tools.index('sop', tools.index('sop') + 1) + 1 :]
        assert model_part[: len(chosen)] == chosen
        called += chosen
    assert called, 'the model called no tool in three passes'
    assert from_model > 0, 'no model plan survived validation in three passes'


def test_with_a_person_in_the_zone_no_plan_moves_the_robot(
    backend: TransformersBackend, embedder: TextEmbedder
) -> None:
    reasoner = _reasoner(embedder, backend)
    robot = RobotState(pose=POSE, person=True, speed=0.3)
    for _ in range(3):
        proposal = reasoner.propose(_motor(), robot, 'thinking')
        assert proposal.plans
        assert not any(moves_robot(ranked.plan) for ranked in proposal.plans)
    # While the robot is held the schema offers no motion skill at all; the validator would
    # drop any that still came through.
    held = shared.plan_schema(['dock_1'], motion=False)
    offered = {
        step['properties']['skill']['const']
        for step in held['properties']['steps']['items']['anyOf']
    }
    assert offered and not offered & {
        'reverse',
        'rotate',
        'relocalize',
        'navigate_to',
        'reroute',
        'dock',
        'retry_step',
    }


def test_a_deadline_already_past_still_gives_a_proposal_from_the_sops(
    backend: TransformersBackend, embedder: TextEmbedder
) -> None:
    reasoner = _reasoner(embedder, backend, thinking_deadline=1e-6)
    calls = len(backend.metrics)
    proposal = reasoner.propose(_motor(), RobotState(pose=POSE), 'thinking')
    assert proposal.plans and proposal.timed_out
    assert all(p.candidate.generator.startswith('sop/') for p in proposal.plans)
    assert any('deadline' in reason for reason in backend.last_errors)
    assert len(backend.metrics) == calls  # no model call was started after the deadline


def test_generation_stops_at_the_deadline(model_dir: Path) -> None:
    ticks = iter(range(10**9))
    stepped = TransformersBackend(model_dir, clock=lambda: float(next(ticks)))
    stepped.load()
    schema = shared.plan_schema(['dock_1'], for_generation=True)
    start = stepped.clock()
    call = stepped.complete('Propose a plan.', (), schema, 4, True, 320, deadline=start + 10)
    assert call.deadline_hit
    assert call.completion_tokens <= 4 * 12  # a tick per step: stopped near step 10 of 320
    assert stepped.metrics[-1].error.startswith('deadline') and not stepped.metrics[-1].ok


# Loading --------------------------------------------------------------------------------------


def test_a_missing_or_wrong_model_folder_is_a_clear_error(
    tmp_path: Path, embedder: TextEmbedder
) -> None:
    missing = tmp_path / 'no_such_model'
    with pytest.raises(FileNotFoundError, match='no_such_model') as error:
        TransformersBackend(missing).load()
    assert 'image-text-to-text model folder' in str(error.value)
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(ValueError, match=f'{empty}.*config.json'):
        TransformersBackend(empty).load()
    broken = tmp_path / 'broken'
    broken.mkdir()
    (broken / 'config.json').write_text('{"model_type": "no_such_architecture"}')
    with pytest.raises(ValueError, match=f'cannot load {broken}'):
        TransformersBackend(broken).load()
    # Unloadable at incident time: the reasoner says why and the SOPs answer.
    proposal = _reasoner(embedder, TransformersBackend(missing)).propose(
        _motor(), RobotState(pose=POSE), 'instant'
    )
    assert proposal.plans and any('no_such_model' in reason for reason in proposal.dropped)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match='temperature'):
        TransformersBackend(Path('x'), temperature=0.0)
    with pytest.raises(ValueError, match='max_new_tokens_thinking'):
        TransformersBackend(Path('x'), max_new_tokens_thinking=0)


def test_importing_the_backend_loads_no_model_library() -> None:
    code = (
        'import sys, muse_supervisor.reasoner.backends.local_vlm\n'
        "print([m for m in ('torch', 'transformers', 'llguidance') if m in sys.modules])"
    )
    env = {**os.environ, 'PYTHONPATH': str(REPO)}
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=env,
                         check=True, timeout=120)  # fmt: skip
    assert out.stdout.strip() == '[]'


# Images and context ---------------------------------------------------------------------------


def test_key_frames_reach_the_vision_tower_as_rgb(
    backend: TransformersBackend, embedder: TextEmbedder
) -> None:
    seen: list[Any] = []
    hook = backend.model.model.vision_model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs.get('pixel_values', args[0] if args
                                                            else None)),
        with_kwargs=True,
    )  # fmt: skip
    try:
        reasoner = _reasoner(embedder, backend)
        reasoner.propose(_motor(), RobotState(pose=POSE), 'instant', frames=[('camera', FRAME)])
        with_image = backend.metrics[-1].prompt_tokens
        assert backend.last_images == 1 and seen
        pixels = seen[-1]
        assert pixels.shape[-3:] == (3, 64, 64)
        red, blue = pixels[..., 0, :, :].mean(), pixels[..., 2, :, :].mean()
        assert red > blue  # BGR from the camera became RGB for the model
        seen.clear()
        reasoner.propose(_motor(), RobotState(pose=POSE), 'instant')
        assert backend.last_images == 0 and not seen
        assert with_image - backend.metrics[-1].prompt_tokens >= 4  # the image's own tokens
    finally:
        hook.remove()


def test_a_long_prompt_is_cut_to_the_bound_and_keeps_delimiters_and_instruction(
    model_dir: Path, embedder: TextEmbedder
) -> None:
    small = TransformersBackend(model_dir, max_prompt_tokens=200)
    small.load()
    prompts: list[str] = []

    def keep(module: Any, args: Any, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get('input_ids')
        if ids is not None and ids.shape[1] > 1:
            prompts.append(small.tokenizer.decode(ids[0]))

    hook = small.model.register_forward_pre_hook(keep, with_kwargs=True)
    try:
        alarms = tuple(_alarm(f'drive fault {i}: ' + 'overcurrent ' * 20, code=f'E{i}')
                       for i in range(8))  # fmt: skip
        proposal = _reasoner(embedder, small).propose(_bundle(alarms), RobotState(pose=POSE))
    finally:
        hook.remove()
    assert proposal.plans
    assert small.metrics[-1].prompt_tokens <= 200
    assert prompts and shared.EVIDENCE_CLOSE in prompts[-1]
    assert '[...]' in prompts[-1] and 'Propose one plan as JSON' in prompts[-1]
