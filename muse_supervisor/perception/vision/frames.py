"""Camera frames and the ROS-free decoders that build them from image message fields.

A thin ROS node hands the fields of ``sensor_msgs/Image`` (encoding, height, width, step,
is_bigendian, data) or ``sensor_msgs/CompressedImage`` (format, data) to :func:`decode_image` or
:func:`decode_compressed_image` together with the header's stamp and frame id; the analyzers only
ever see a :class:`Frame`. Keeping the decoding here means it is tested without a ROS context and
every analyzer gets pixels in one canonical layout: 8-bit BGR, 8-bit mono or 16-bit mono.

The stamp is the one of the image (its header), never the time it was decoded or analysed: an
observation must say when the thing was seen, and frames can wait in a worker for a while.
"""

from __future__ import annotations

import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Final, TypeAlias

import cv2
import numpy as np
import numpy.typing as npt

ImageBytes: TypeAlias = 'bytes | bytearray | memoryview | array.array[int] | Sequence[int]'
"""What a message's ``data`` field may be: rclpy gives ``array.array('B')`` or ``bytes``."""

CANONICAL_ENCODINGS: Final = ('bgr8', 'mono8', 'mono16')
"""The layouts a :class:`Frame` holds; every supported wire encoding is turned into one."""

# Wire encoding -> (channels, bytes per channel, OpenCV conversion to the canonical layout or
# None, canonical encoding). The OpenCV type aliases (8UC1, ...) are what some drivers publish.
_RAW_ENCODINGS: Final[dict[str, tuple[int, int, int | None, str]]] = {
    'bgr8': (3, 1, None, 'bgr8'),
    'rgb8': (3, 1, cv2.COLOR_RGB2BGR, 'bgr8'),
    'bgra8': (4, 1, cv2.COLOR_BGRA2BGR, 'bgr8'),
    'rgba8': (4, 1, cv2.COLOR_RGBA2BGR, 'bgr8'),
    'mono8': (1, 1, None, 'mono8'),
    'mono16': (1, 2, None, 'mono16'),
    '8UC1': (1, 1, None, 'mono8'),
    '8UC3': (3, 1, None, 'bgr8'),
    '16UC1': (1, 2, None, 'mono16'),
    # Packed 4:2:2 as USB cameras send it: 2 bytes a pixel, colour shared by pixel pairs.
    'yuv422': (2, 1, cv2.COLOR_YUV2BGR_UYVY, 'bgr8'),
    'uyvy': (2, 1, cv2.COLOR_YUV2BGR_UYVY, 'bgr8'),
    'yuv422_yuy2': (2, 1, cv2.COLOR_YUV2BGR_YUYV, 'bgr8'),
    'yuyv': (2, 1, cv2.COLOR_YUV2BGR_YUYV, 'bgr8'),
}
SUPPORTED_RAW_ENCODINGS: Final = tuple(_RAW_ENCODINGS)

# Words in a CompressedImage format string that name a codec OpenCV's imdecode reads.
_COMPRESSED_CODECS: Final = ('jpeg', 'jpg', 'png', 'webp', 'bmp', 'tiff')
_MAX_DIMENSION: Final = 16384


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded camera image and where it came from.

    ``pixels`` is ``(height, width, 3)`` uint8 in BGR order (``encoding == 'bgr8'``),
    ``(height, width)`` uint8 (``'mono8'``) or ``(height, width)`` uint16 (``'mono16'``).
    ``stamp`` is the image's own time in seconds (its header stamp), ``sequence`` counts the
    frames the node received on ``topic`` (a repeated sequence is the same frame seen twice, a
    repeated stamp on a new sequence is a driver re-sending an old image). The derived views
    (:attr:`gray8`, :attr:`bgr8`) are computed once per frame and shared by all analyzers.
    """

    pixels: npt.NDArray[np.uint8] | npt.NDArray[np.uint16]
    stamp: float
    frame_id: str = ''
    topic: str = ''
    sequence: int = 0
    encoding: str = field(default='')

    def __post_init__(self) -> None:
        pixels = self.pixels
        if not isinstance(pixels, np.ndarray):
            raise ValueError(f'Frame.pixels must be a numpy array, got {type(pixels).__name__}')
        shape = pixels.shape
        if pixels.ndim == 3 and shape[2] == 3 and pixels.dtype == np.uint8:
            expected = 'bgr8'
        elif pixels.ndim == 2 and pixels.dtype == np.uint8:
            expected = 'mono8'
        elif pixels.ndim == 2 and pixels.dtype == np.uint16:
            expected = 'mono16'
        else:
            raise ValueError(
                f'Frame.pixels of shape {shape} and dtype {pixels.dtype} is not a supported '
                'layout: expected (H, W, 3) uint8 BGR, (H, W) uint8 or (H, W) uint16'
            )
        if shape[0] == 0 or shape[1] == 0:
            raise ValueError(f'Frame.pixels is empty (shape {shape})')
        if not self.encoding:
            object.__setattr__(self, 'encoding', expected)
        elif self.encoding != expected:
            raise ValueError(
                f'Frame.encoding {self.encoding!r} does not match pixels of shape {shape} and '
                f'dtype {pixels.dtype} (that is {expected!r})'
            )
        if not np.isfinite(self.stamp):
            raise ValueError(f'Frame.stamp must be finite seconds, got {self.stamp!r}')

    @property
    def height(self) -> int:
        """Rows of pixels."""
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        """Columns of pixels."""
        return int(self.pixels.shape[1])

    @cached_property
    def gray8(self) -> npt.NDArray[np.uint8]:
        """8-bit luminance; 16-bit mono is scaled by its full range (``value >> 8``).

        Full-range scaling (not per-image min/max) keeps luminance thresholds meaningful: a dark
        16-bit image stays dark.
        """
        if self.encoding == 'bgr8':
            return np.asarray(cv2.cvtColor(self.pixels, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
        if self.encoding == 'mono16':
            return np.asarray(self.pixels >> 8, dtype=np.uint8)
        return np.asarray(self.pixels, dtype=np.uint8)

    @cached_property
    def bgr8(self) -> npt.NDArray[np.uint8]:
        """8-bit BGR (mono images repeated on three channels)."""
        if self.encoding == 'bgr8':
            return np.asarray(self.pixels, dtype=np.uint8)
        return np.asarray(cv2.cvtColor(self.gray8, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


def decode_image(
    *,
    encoding: str,
    height: int,
    width: int,
    step: int,
    is_bigendian: bool | int,
    data: ImageBytes,
    stamp: float,
    frame_id: str = '',
    topic: str = '',
    sequence: int = 0,
) -> Frame:
    """A :class:`Frame` from the fields of a ``sensor_msgs/Image``.

    Rows may be padded (``step`` larger than ``width`` times the pixel size); the padding is
    dropped. 16-bit data is byte-swapped when ``is_bigendian`` differs from this machine. The
    pixels are copied: the message buffer may be reused by the middleware after the callback.
    Raises ValueError saying what was wrong and what is supported.
    """
    spec = _RAW_ENCODINGS.get(encoding)
    if spec is None:
        raise ValueError(
            f'unsupported image encoding {encoding!r}: supported are '
            f'{", ".join(SUPPORTED_RAW_ENCODINGS)} (depth images and Bayer patterns are not '
            'camera frames for these analyzers)'
        )
    channels, channel_bytes, conversion, canonical = spec
    for name, value in (('height', height), ('width', width)):
        if not 0 < value <= _MAX_DIMENSION:
            raise ValueError(f'image {name} must be in 1..{_MAX_DIMENSION}, got {value}')
    if channels == 2 and width % 2:
        raise ValueError(f'{encoding} packs pixel pairs: width must be even, got {width}')
    row_bytes = width * channels * channel_bytes
    if step < row_bytes:
        raise ValueError(
            f'image step {step} is shorter than one row of {width} {encoding} pixels '
            f'({row_bytes} bytes)'
        )
    buffer = np.frombuffer(_as_bytes(data), dtype=np.uint8)
    needed = step * (height - 1) + row_bytes
    if buffer.size < needed:
        raise ValueError(
            f'image data has {buffer.size} bytes; {height} rows of step {step} need {needed}'
        )
    rows = np.lib.stride_tricks.as_strided(
        buffer, shape=(height, row_bytes), strides=(step, 1), writeable=False
    )
    if channel_bytes == 2:
        wire = '>u2' if is_bigendian else '<u2'
        # astype to the native uint16 keeps the values whatever the wire's byte order was.
        native = np.ascontiguousarray(rows).view(wire).reshape(height, width).astype(np.uint16)
        return Frame(native, stamp, frame_id, topic, sequence, canonical)
    pixels: npt.NDArray[np.uint8] = np.array(rows, dtype=np.uint8).reshape(height, width, channels)
    if conversion is not None:
        pixels = np.asarray(cv2.cvtColor(pixels, conversion), dtype=np.uint8)
    if channels == 1:
        pixels = pixels.reshape(height, width)
    return Frame(np.ascontiguousarray(pixels), stamp, frame_id, topic, sequence, canonical)


def decode_compressed_image(
    *,
    format: str,  # the field's name in sensor_msgs/CompressedImage
    data: ImageBytes,
    stamp: float,
    frame_id: str = '',
    topic: str = '',
    sequence: int = 0,
) -> Frame:
    """A :class:`Frame` from the fields of a ``sensor_msgs/CompressedImage``.

    ``format`` is what image_transport writes: a codec (``"jpeg"``, ``"png"``) or
    ``"<original encoding>; <codec> compressed <stored encoding>"``, e.g.
    ``"rgb8; jpeg compressed bgr8"``. OpenCV decodes colour to BGR, which is the stored layout
    in that convention, so no channel swap is needed; 16-bit PNG becomes ``mono16``.
    ``compressedDepth`` (a depth image behind a private header) is refused.
    """
    described = format.strip().lower()
    if 'compresseddepth' in described:
        raise ValueError(
            f'compressed format {format!r} is a depth image (compressedDepth): the vision '
            'analyzers take camera images (jpeg or png)'
        )
    words = described.replace(';', ' ').split()
    if not any(word in _COMPRESSED_CODECS for word in words):
        raise ValueError(
            f'compressed format {format!r} names no supported codec: expected one of '
            f'{", ".join(_COMPRESSED_CODECS)} (e.g. "jpeg" or "rgb8; jpeg compressed bgr8")'
        )
    buffer = np.frombuffer(_as_bytes(data), dtype=np.uint8)
    if buffer.size == 0:
        raise ValueError(f'compressed image ({format!r}) has no data')
    decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if decoded is None:
        raise ValueError(
            f'could not decode {buffer.size} bytes as {format!r}: the data is not a valid image '
            'in that codec'
        )
    image = np.asarray(decoded)
    if image.ndim == 3 and image.shape[2] == 4:
        image = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGRA2BGR))
    elif image.ndim == 3 and image.shape[2] == 1:
        image = image.reshape(image.shape[:2])
    if image.dtype == np.uint16 and image.ndim == 3:
        # 16-bit colour PNG: keep 8 significant bits, the analyzers work on 8-bit colour.
        image = np.right_shift(image, 8).astype(np.uint8)
    if image.dtype == np.uint8:
        return Frame(np.ascontiguousarray(image, dtype=np.uint8), stamp, frame_id, topic, sequence)
    if image.dtype != np.uint16:
        raise ValueError(
            f'compressed image {format!r} decoded to {image.dtype} pixels: expected 8-bit or '
            '16-bit images'
        )
    return Frame(np.ascontiguousarray(image, dtype=np.uint16), stamp, frame_id, topic, sequence)


def _as_bytes(data: ImageBytes) -> bytes | bytearray | memoryview | array.array[int]:
    """The message's data as a buffer numpy can read without copying where possible."""
    if isinstance(data, bytes | bytearray | memoryview | array.array):
        return data
    try:
        return bytes(data)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f'image data must be bytes or a sequence of integers 0..255, got '
            f'{type(data).__name__}: {error}'
        ) from error
