"""Decoding sensor_msgs/Image and CompressedImage fields into Frames, without ROS."""

from __future__ import annotations

import array

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from muse_supervisor.perception.vision.frames import (
    SUPPORTED_RAW_ENCODINGS,
    Frame,
    decode_compressed_image,
    decode_image,
)

RNG = np.random.default_rng(7)
BGR = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def _raw(encoding: str, pixels: np.ndarray, *, pad: int = 0, bigendian: bool = False) -> Frame:
    height, width = pixels.shape[:2]
    rows = pixels.reshape(height, -1)
    if pixels.dtype == np.uint16:
        rows = pixels.astype('>u2' if bigendian else '<u2').view(np.uint8).reshape(height, -1)
    padded = np.concatenate([rows, np.zeros((height, pad), np.uint8)], axis=1)
    return decode_image(
        encoding=encoding, height=height, width=width, step=padded.shape[1],
        is_bigendian=bigendian, data=padded.tobytes(), stamp=12.5, frame_id='cam_optical',
        topic='camera/image_raw', sequence=3,
    )  # fmt: skip


def test_bgr8_passes_through_and_keeps_provenance() -> None:
    frame = _raw('bgr8', BGR)
    assert np.array_equal(frame.pixels, BGR)
    assert (frame.encoding, frame.stamp, frame.frame_id) == ('bgr8', 12.5, 'cam_optical')
    assert (frame.topic, frame.sequence, frame.height, frame.width) == (
        'camera/image_raw',
        3,
        6,
        8,
    )


def test_rgb8_is_swapped_to_bgr() -> None:
    frame = _raw('rgb8', BGR[..., ::-1].copy())
    assert np.array_equal(frame.pixels, BGR)


@pytest.mark.parametrize('encoding', ['rgba8', 'bgra8'])
def test_four_channel_encodings_drop_alpha(encoding: str) -> None:
    alpha = RNG.integers(0, 256, (6, 8, 1), dtype=np.uint8)
    colour = BGR[..., ::-1] if encoding == 'rgba8' else BGR
    frame = _raw(encoding, np.concatenate([colour, alpha], axis=2))
    assert frame.encoding == 'bgr8'
    assert np.array_equal(frame.pixels, BGR)


def test_mono8_and_its_gray_and_bgr_views() -> None:
    gray = BGR[..., 1].copy()
    frame = _raw('mono8', gray)
    assert frame.encoding == 'mono8'
    assert np.array_equal(frame.gray8, gray)
    assert frame.bgr8.shape == (6, 8, 3)
    assert np.array_equal(frame.bgr8[..., 2], gray)


@pytest.mark.parametrize('bigendian', [False, True])
def test_mono16_in_either_byte_order(bigendian: bool) -> None:
    values = RNG.integers(0, 65536, (6, 8), dtype=np.uint16)
    frame = _raw('mono16', values, bigendian=bigendian)
    assert frame.encoding == 'mono16'
    assert frame.pixels.dtype == np.uint16
    assert np.array_equal(frame.pixels, values)
    assert np.array_equal(frame.gray8, (values >> 8).astype(np.uint8))


def test_row_padding_in_step_is_dropped() -> None:
    frame = _raw('bgr8', BGR, pad=5)
    assert np.array_equal(frame.pixels, BGR)


def test_packed_yuv422_decodes_to_colour() -> None:
    grey_uyvy = np.full((4, 8 * 2), 128, np.uint8)  # U=V=128: no colour; Y=128
    frame = decode_image(
        encoding='yuv422', height=4, width=8, step=16, is_bigendian=False,
        data=grey_uyvy.tobytes(), stamp=0.0,
    )  # fmt: skip
    assert frame.encoding == 'bgr8'
    assert np.all(np.abs(frame.pixels.astype(int) - 128) <= 2)


def test_data_may_be_an_array_or_a_list_as_rclpy_gives_it() -> None:
    gray = BGR[..., 0].copy()
    for data in (array.array('B', gray.tobytes()), list(gray.tobytes()), bytearray(gray)):
        frame = decode_image(
            encoding='mono8', height=6, width=8, step=8, is_bigendian=0, data=data, stamp=1.0
        )
        assert np.array_equal(frame.pixels, gray)


def test_the_frame_does_not_share_the_message_buffer() -> None:
    buffer = bytearray(BGR.tobytes())
    frame = decode_image(
        encoding='bgr8', height=6, width=8, step=24, is_bigendian=False, data=buffer, stamp=0.0
    )
    buffer[:] = bytes(len(buffer))
    assert np.array_equal(frame.pixels, BGR)


def test_unsupported_encoding_names_the_supported_ones() -> None:
    with pytest.raises(ValueError, match="unsupported image encoding 'bayer_rggb8'") as error:
        decode_image(
            encoding='bayer_rggb8', height=2, width=2, step=2, is_bigendian=False,
            data=bytes(4), stamp=0.0,
        )  # fmt: skip
    for name in SUPPORTED_RAW_ENCODINGS:
        assert name in str(error.value)


@pytest.mark.parametrize(
    ('fields', 'message'),
    [
        ({'height': 0}, 'height must be in'),
        ({'width': -3}, 'width must be in'),
        ({'step': 20}, 'step 20 is shorter than one row'),
        ({'data': bytes(100)}, 'image data has 100 bytes'),
        ({'encoding': 'yuv422', 'width': 7, 'step': 14, 'data': bytes(84)}, 'width must be even'),
        ({'data': [300] * 144}, 'image data must be bytes'),
    ],
)
def test_inconsistent_fields_are_refused_with_what_was_wrong(
    fields: dict[str, object], message: str
) -> None:
    good: dict[str, object] = {
        'encoding': 'bgr8', 'height': 6, 'width': 8, 'step': 24, 'is_bigendian': False,
        'data': BGR.tobytes(), 'stamp': 0.0,
    }  # fmt: skip
    with pytest.raises(ValueError, match=message):
        decode_image(**{**good, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize('codec', ['jpeg', 'png'])
def test_compressed_colour_round_trip(codec: str) -> None:
    smooth = cv2.GaussianBlur(
        cv2.resize(BGR, (64, 48), interpolation=cv2.INTER_NEAREST), (9, 9), 0
    )
    ok, encoded = cv2.imencode('.jpg' if codec == 'jpeg' else '.png', smooth)
    assert ok
    frame = decode_compressed_image(
        format=f'rgb8; {codec} compressed bgr8', data=encoded.tobytes(), stamp=4.0, topic='t'
    )
    assert (frame.encoding, frame.pixels.shape, frame.stamp, frame.topic) == (
        'bgr8', (48, 64, 3), 4.0, 't',
    )  # fmt: skip
    error = np.abs(frame.pixels.astype(int) - smooth.astype(int)).mean()
    assert error == 0 if codec == 'png' else error < 4


def test_compressed_plain_format_names_and_sixteen_bit_png() -> None:
    values = RNG.integers(0, 65536, (10, 12), dtype=np.uint16)
    ok, encoded = cv2.imencode('.png', values)
    assert ok
    frame = decode_compressed_image(format='png', data=encoded.tobytes(), stamp=0.0)
    assert frame.encoding == 'mono16'
    assert np.array_equal(frame.pixels, values)
    ok, encoded = cv2.imencode('.jpg', values[..., None].astype(np.uint8))
    assert decode_compressed_image(format='jpeg', data=encoded, stamp=0.0).encoding == 'mono8'


@pytest.mark.parametrize(
    ('image_format', 'data', 'message'),
    [
        ('h264', b'\x00\x00\x01', 'names no supported codec'),
        ('16UC1; compressedDepth png', b'\x00' * 20, 'depth image'),
        ('jpeg', b'', 'has no data'),
        ('jpeg', b'not a jpeg at all', 'could not decode 17 bytes'),
    ],
)
def test_bad_compressed_input_is_refused(image_format: str, data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_compressed_image(format=image_format, data=data, stamp=0.0)


def test_a_frame_refuses_pixels_it_cannot_hold() -> None:
    with pytest.raises(ValueError, match='not a supported layout'):
        Frame(np.zeros((4, 4, 2), np.uint8), 0.0)
    with pytest.raises(ValueError, match='is empty'):
        Frame(np.zeros((0, 4), np.uint8), 0.0)
    with pytest.raises(ValueError, match='does not match pixels'):
        Frame(np.zeros((4, 4), np.uint8), 0.0, encoding='bgr8')
    with pytest.raises(ValueError, match='finite'):
        Frame(np.zeros((4, 4), np.uint8), float('nan'))


@settings(max_examples=150, deadline=None)
@given(
    encoding=st.sampled_from([*SUPPORTED_RAW_ENCODINGS, 'bayer_rggb8', '32FC1', '']),
    height=st.integers(-2, 12),
    width=st.integers(-2, 12),
    step=st.integers(-4, 80),
    size=st.integers(0, 900),
    bigendian=st.booleans(),
)
def test_any_fields_give_a_frame_or_a_value_error(
    encoding: str, height: int, width: int, step: int, size: int, bigendian: bool
) -> None:
    """Whatever a driver sends, decoding either succeeds consistently or says what was wrong."""
    data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    try:
        frame = decode_image(
            encoding=encoding, height=height, width=width, step=step, is_bigendian=bigendian,
            data=data, stamp=1.0,
        )  # fmt: skip
    except ValueError as error:
        assert str(error)
        return
    assert (frame.height, frame.width) == (height, width)
    assert frame.encoding in ('bgr8', 'mono8', 'mono16')
