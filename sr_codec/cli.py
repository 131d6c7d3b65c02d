"""Command line: ``sr-codec encode IN OUT``, ``sr-codec decode IN OUT.png``, ``sr-codec inspect IN``
(and ``sr-codec batch encode|decode INPUT... --out DIR``: :mod:`sr_codec.batch`).

Failures print one line on stderr (``sr-codec: error: ...``) and exit non-zero: 1 for a bad
image, payload, file or out-of-range value, 2 for bad command-line usage (an unknown option,
a value that is not a number).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

from . import __version__
from . import codecs
from .errors import SrCodecError
from .receiver.decoder import PayloadInfo, decode, decode_preview, inspect
from .sender.builder import MODES, SENDERS
from .sender.encoder import encode
from .zoo.manifest import LOOKS

PROG = "sr-codec"


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports usage errors in one line instead of usage + message."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{PROG}: error: {message} (see {PROG} --help)\n")


def parse_scale(text: str) -> int | str:
    """``--scale``: an integer or ``auto`` (the range is the library's to check). The one scale parser of every
    command that encodes (``sr-codec encode``, ``sr-codec batch encode``)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid scale {text!r}: an integer or 'auto'") from None


def add_encode_options(parser) -> None:
    """The options of ``sr_codec.encode`` on a command line, defined once for ``sr-codec encode`` and
    ``sr-codec batch encode`` (``parser``: an ``ArgumentParser`` or an argument group).

    ``--mode`` lands in ``rate_mode`` (a batch job's positional ``mode`` is encode|decode); ``--rate-mode`` is
    kept as a hidden alias of it. :func:`encode_kwargs` turns the parsed options into ``encode``'s arguments.
    """
    parser.add_argument("--scale", type=parse_scale, default=None, metavar="S|auto",
                        help="shrink factor 1..16, or 'auto' to let rate control pick 1, 2, 4 or 10 "
                             "(default 4; auto with --max-bytes or --target-psnr)")
    parser.add_argument("--quality", type=int, default=None,
                        help="inner codec quality 0..100 (default: the codec's; rate control picks it with "
                             "--max-bytes, --target-psnr or --scale auto)")
    parser.add_argument("--inner", choices=codecs.names(), default=None, help="inner codec (default avif)")
    parser.add_argument("--max-bytes", type=int, default=None, metavar="N",
                        help="rate control: the best decoded quality in at most N payload bytes")
    parser.add_argument("--target-psnr", type=float, default=None, metavar="DB",
                        help="rate control: the smallest payload that decodes to at least DB dB RGB PSNR")
    parser.add_argument("--mode", dest="rate_mode", choices=MODES, default="fast",
                        help="rate control: predict the network's gain (fast, default) or decode every finalist (best)")
    parser.add_argument("--rate-mode", dest="rate_mode", choices=MODES, default=argparse.SUPPRESS,
                        help=argparse.SUPPRESS)  # the batch command's old spelling
    parser.add_argument("--sender", choices=SENDERS, default="auto",
                        help="who makes the thumbnail: the learned downscaler where one ships for the scale, "
                             "bicubic, or auto (default)")


def encode_kwargs(args: argparse.Namespace) -> dict:
    """``sr_codec.encode``'s keyword arguments from options added by :func:`add_encode_options`."""
    return dict(scale=args.scale, quality=args.quality, inner=args.inner, max_bytes=args.max_bytes,
                target_psnr=args.target_psnr, mode=args.rate_mode, sender=args.sender)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog=PROG, description="Photos in a few kilobytes: downsample + codec + super-resolution.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    enc = sub.add_parser("encode", help="image file -> payload")
    enc.add_argument("input", type=Path, help="JPEG, PNG, WebP, AVIF, GIF, BMP, TIFF (HEIC with pillow-heif)")
    enc.add_argument("output", type=Path, help="payload file to write")
    add_encode_options(enc)

    dec = sub.add_parser("decode", help="payload -> image file (format from the extension, e.g. .png)")
    dec.add_argument("input", type=Path, help="payload file")
    dec.add_argument("output", type=Path, help="image file to write, e.g. out.png")
    dec.add_argument("--device", choices=["cpu", "gpu"], default=None,
                     help="default: $SR_CODEC_DEVICE, else the GPU when TensorFlow is installed and sees one, "
                          "else the CPU")
    dec.add_argument("--model", default=None, help="'default', 'bicubic' or a model id (default: the payload's)")
    dec.add_argument("--tile", type=int, default=None, metavar="N",
                     help="run the network on N x N low-res tiles (default: from free memory; 0 = whole image)")
    dec.add_argument("--runtime", choices=["auto", "keras", "litert"], default=None,
                     help="auto (default: the shipped .tflite under LiteRT on the CPU, Keras on a GPU), "
                          "keras (TensorFlow) or litert (TFLite, CPU only)")
    dec.add_argument("--look", choices=list(LOOKS), default="faithful",
                     help="faithful (default: the payload's model) or sharp (its adversarially trained twin, "
                          "same payload: more texture, a little less PSNR; see docs/perceptual.md)")
    dec.add_argument("--verbose", action="store_true",
                     help="let TensorFlow / LiteRT log to stderr (quiet by default)")
    dec.add_argument("--preview", action="store_true", help="write the low-resolution preview instead")

    ins = sub.add_parser("inspect", help="describe a payload without decoding it")
    ins.add_argument("input", type=Path, help="payload file")

    # Listed for --help only: main() hands `sr-codec batch ...` to batch_parser (sr_codec.batch, the `scale` extra).
    sub.add_parser("batch", add_help=False, help="a whole corpus on Ray Data: sr-codec batch encode|decode "
                                                 "INPUT... --out DIR (sr-codec batch --help; the `scale` extra)")
    return parser


def batch_parser() -> argparse.ArgumentParser:
    """``sr-codec batch``'s options (:mod:`sr_codec.batch`); the encode options are ``sr-codec encode``'s."""
    from .batch import RUNNERS

    p = argparse.ArgumentParser(prog="sr-codec batch", description="Encode or decode a whole corpus: in this "
                                "process, or on Ray Data when the job pays for Ray's start-up (a local Ray or a cluster).")
    p.add_argument("mode", choices=["encode", "decode"])
    p.add_argument("inputs", nargs="+", help="folders, globs, list files (.txt/.lst: a path or URI a line), URIs")
    p.add_argument("--out", required=True, help="output folder (payloads .src, or decoded .png)")
    enc = p.add_argument_group("encode options (as sr-codec encode)")
    add_encode_options(enc)
    enc.add_argument("--psnr", action="store_true", help="also decode every payload and record its RGB PSNR")
    p.add_argument("--model", default=None, help="decode: 'default', 'bicubic' or a model id (default: the payload's)")
    out = p.add_argument_group("results and resuming")
    out.add_argument("--results", default=None, help="table location (default OUT/_results, or OUT/_results.jsonl)")
    out.add_argument("--results-format", choices=["parquet", "jsonl"], default="parquet")
    out.add_argument("--retry-errors", action="store_true",
                     help="process again the files that failed in an earlier run (else skipped, and counted)")
    ray = p.add_argument_group("where it runs")
    ray.add_argument("--runner", choices=RUNNERS, default="auto",
                     help="auto (default): in this process, moving to a local Ray when the job is long enough to "
                          "pay for Ray's start-up; Ray when --address / $RAY_ADDRESS names a cluster; "
                          "ray: always; local: never")
    ray.add_argument("--address", default=None, help="a Ray cluster (default $RAY_ADDRESS, else an embedded local Ray)")
    ray.add_argument("--num-cpus", type=int, default=None, help="local Ray: CPUs to use (default: all)")
    ray.add_argument("--concurrency", type=int, default=None,
                     help="files at once: threads in this process, or actors on Ray (default: one per free CPU "
                          "here, at most 4; from the cluster on Ray)")
    ray.add_argument("--cpus-per-worker", type=float, default=1.0,
                     help="CPUs per actor, also its LiteRT threads (SR_CODEC_THREADS)")
    ray.add_argument("--num-gpus", type=float, default=0.0, help="GPUs per actor (>0: networks run on GPU workers)")
    ray.add_argument("--batch-size", type=int, default=8)
    ray.add_argument("--no-progress", action="store_true", help="no done/total line on stderr")
    ray.add_argument("--verbose", action="store_true", help="Ray's logs, progress bars and the workers' output")
    return p


def batch_main(argv: list[str] | None = None) -> int:
    """``sr-codec batch ...`` = ``python -m sr_codec.batch ...``: one summary line, the results table's location;
    exit 0 when the job ran (error rows included), 1 when it could not run."""
    from .batch import transcode

    a = batch_parser().parse_args(argv)
    try:
        summary = transcode(a.inputs, a.out, mode=a.mode, scale=a.scale, quality=a.quality, inner=a.inner,
                            max_bytes=a.max_bytes, target_psnr=a.target_psnr, rate_mode=a.rate_mode, sender=a.sender,
                            psnr=a.psnr, model=a.model, results=a.results, results_format=a.results_format,
                            retry_errors=a.retry_errors, runner=a.runner, address=a.address, num_cpus=a.num_cpus,
                            concurrency=a.concurrency, cpus_per_worker=a.cpus_per_worker, num_gpus=a.num_gpus,
                            batch_size=a.batch_size, progress=not a.no_progress, verbose=a.verbose)
    except SrCodecError as exc:
        print(f"sr-codec batch: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 1
    for example in summary.error_examples:
        print(f"  error: {example}")
    print(summary.line())
    print(f"results: {summary.results}")
    return 0


def describe(info: PayloadInfo) -> str:
    """A readable multi-line summary of :class:`PayloadInfo`."""
    low_h, low_w = info.low_res_size
    if not info.has_alpha:
        alpha = "none"
    elif info.alpha_bytes:
        alpha = f"coded plane, {info.alpha_bytes} bytes"
    else:
        alpha = "constant"
    model = info.model_id if info.model_id is not None else "not shipped with this sr_codec"
    rows = [
        ("format", f"sr_codec payload v{info.version}"),
        ("size", f"{info.width} x {info.height} {info.mode}"),
        ("scale", f"x{info.scale} (low-res {low_w} x {low_h})"),
        ("inner codec", f"{info.inner}, {info.inner_bytes} bytes"),
        ("alpha", alpha),
        ("model", f"tag {info.model_tag:#010x} ({model})"),
        ("payload", f"{info.payload_bytes} bytes, {info.bits_per_pixel:.4f} bits/pixel, "
                    f"{info.overhead_bytes} bytes container"),
    ]
    return "\n".join(f"{key:<12} {value}" for key, value in rows)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SrCodecError(f"cannot read {path}: {exc.strerror or exc}") from exc


def _check_output_format(path: Path) -> None:
    """Refuse an output name Pillow cannot write before any decoding."""
    from PIL import Image

    Image.init()
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None or fmt not in Image.SAVE:
        raise SrCodecError(f"cannot write {path}: unknown image extension {path.suffix or '(none)'!r}; "
                           "use e.g. .png, .webp, .jpg")


def _check_device(device: str | None) -> None:
    """Refuse an unavailable ``--device gpu`` before any decoding (cheap when TensorFlow is absent)."""
    from .receiver.runtime.device import requested_device, resolve_device

    if requested_device(device) == "gpu":
        resolve_device(device)


def _write_image(image, path: Path) -> None:
    from PIL import Image

    try:
        Image.fromarray(image).save(path)
    except (OSError, ValueError, KeyError) as exc:  # unknown extension, unwritable folder...
        raise SrCodecError(f"cannot write {path}: {exc}") from exc


def _run(args: argparse.Namespace) -> None:
    if args.command == "encode":
        data = encode(str(args.input), **encode_kwargs(args))
        try:
            args.output.write_bytes(data)
        except OSError as exc:
            raise SrCodecError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
        info = inspect(data)
        print(f"{args.output}: {len(data)} bytes, {info.width} x {info.height} {info.mode}, "
              f"x{info.scale} {info.inner}, {info.bits_per_pixel:.4f} bits/pixel")
    elif args.command == "decode":
        _check_output_format(args.output)
        payload = _read(args.input)
        if args.preview:
            image = decode_preview(payload)
        else:
            _check_device(args.device)
            image = decode(payload, device=args.device, model=args.model, tile=args.tile, runtime=args.runtime,
                           look=args.look)
        _write_image(image, args.output)
        print(f"{args.output}: {image.shape[1]} x {image.shape[0]} {'RGBA' if image.shape[2] == 4 else 'RGB'}")
    else:
        print(describe(inspect(_read(args.input))))


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sr-codec`` console script; returns the exit status."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["batch"]:  # `sr-codec batch ...` = `python -m sr_codec.batch ...` (its own parser, below)
        return batch_main(argv[1:])
    args = _parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if verbose:
        os.environ["SR_CODEC_VERBOSE"] = "1"
    else:  # before TensorFlow can be imported (Keras path): errors only
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from .receiver.runtime.litert import quiet_stderr

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            # fd 2 goes to /dev/null meanwhile (native TensorFlow / XNNPACK log lines): nothing may print to stderr
            # in here, so the warnings are recorded and the errors caught, and both are printed after it.
            with quiet_stderr(not verbose):
                _run(args)
    except SrCodecError as exc:
        _print_warnings(caught, verbose)
        message = " ".join(str(exc).split())  # always one line
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    _print_warnings(caught, verbose)
    return 0


def _is_ours(warning: warnings.WarningMessage) -> bool:
    """A warning sr_codec raised (its own category, or warned from inside the package), not a dependency's."""
    if warning.category.__module__.split(".")[0] == __package__:
        return True
    return Path(warning.filename).resolve().is_relative_to(Path(__file__).resolve().parent)


def _print_warnings(caught: list[warnings.WarningMessage], verbose: bool) -> None:
    """Every sr_codec warning (a target_psnr not reached, an animated input cut to one frame...) as one
    ``warning: ...`` line each; the dependencies' only with ``--verbose``."""
    seen = set()
    for warning in caught:
        text = " ".join(str(warning.message).split())
        if text in seen or not (verbose or _is_ours(warning)):
            continue
        seen.add(text)
        print(f"warning: {text}", file=sys.stderr)
