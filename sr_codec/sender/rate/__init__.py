"""Rate control: pick the scale and the inner-codec quality per image, for a byte budget or a quality target.

Downsampling pays only where the plain codec is weak: at very low rates a small image plus
super-resolution wins, at higher rates the inner codec at full resolution wins, and where the
cross-over lies depends on the image. So the encoder tries every scale (1, 2, 4, 10) and judges
each by what the receiver will *show*: the decoded RGB PSNR against the (normalised) input.

A *route* is a scale and the model the payload names for it; scale 1 always has the route
"inner codec alone" (model ``bicubic``, i.e. no network), the anchor of the guarantee below.

* **Byte budget** (``max_bytes``): for each route, the highest quality whose whole payload
  fits (a monotone search: encodes only, cheap at low resolution); then the finalist whose
  decoded PSNR is best. ``mode="best"`` decodes every finalist with the network;
  ``mode="fast"`` predicts each network finalist's PSNR (bicubic-decode PSNR plus the
  network's measured gain at that many low-res bits per pixel, :class:`GainTable`) and runs
  the network on at most :data:`FAST_MAX_DECODES` of them.
* **Quality target** (``target_psnr``): for each route, the lowest quality whose decoded PSNR
  reaches the target; the smallest payload wins. Best mode searches on real decodes; fast mode
  on the prediction, then verifies the winner with the network (at most two decodes). When no
  setting reaches the target, the payload with the best decoded PSNR (within ``max_bytes``).

Modules: ``choose`` (the entry point and its report), ``strategies`` (budget and target searches
over routes), ``session`` (every encode and decode of one image, cached), ``search`` (monotone
integer searches), ``predictor`` (the gain table), ``receiver_model`` (the decoder as the encoder
models it), ``calibrate`` (``python -m sr_codec.rate``: measures the gain table).

**Guarantee.** Routes without a network (scale 1 "inner codec alone" among them) are always
measured exactly, and the final choice is made on real PSNRs only, so on any image at any
budget the chosen payload decodes at least as well as a plain Pillow .avif file at full
resolution within the same bytes. Scale 1 is coded at Pillow's default AVIF speed for this
(:meth:`~sr_codec.codecs.InnerCodec.as_plain_file`): its bitstream is then the file's own, ~250 container bytes smaller.
The searches assume sizes grow with quality (true of AVIF but for rare one-step wobbles,
which those spare bytes absorb). See docs/rate_control.md for measurements.
"""
