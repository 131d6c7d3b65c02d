"""Rate control: pick the scale and the inner-codec quality per image, for a byte budget or a quality target.

Downsampling pays only where the plain codec is weak: at very low rates a small image plus
super-resolution wins, at higher rates the inner codec at full resolution wins, and where the
cross-over lies depends on the image. So the encoder tries every scale (1, 2, 4, 10) and judges
each by what the receiver will *show*: the decoded RGB PSNR against the (normalised) input.

A *route* is a scale and the model the payload names for it; scale 1 always has the route
"inner codec alone" (model ``bicubic``, i.e. no network), the anchor of the guarantee below.

* **Byte budget** (``max_bytes``). ``mode="best"``: for each route, the highest quality whose whole payload
  fits (a monotone search on the photo), then the finalist whose decoded PSNR is best, every network finalist
  decoded. ``mode="fast"`` (v2, issue 22): an *analysis* probes every route at a fast libavif speed on the
  photo, or on a mosaic of its tiles above 0.5 MP (``mosaic``), two or three probes a route; the gain table
  predicts each network's PSNR and its speed maps carry sizes and PSNRs to each route's final speed; a network
  route beats the scale-1 anchor only on its lower bound. Then only the chosen route is coded at full size
  (``final``): a secant on log-bytes at the final speed, usually one or two encodes.
* **Quality target** (``target_psnr``): for each route, the lowest quality whose decoded PSNR
  reaches the target; the smallest payload wins. Best mode searches on real decodes; fast mode
  on the prediction, aimed one residual above the target. When no setting reaches the target,
  the payload with the best decoded PSNR within ``max_bytes``, or within the soft cap ``target_cap``.

Modules: ``choose`` (the entry point, its report and the fast path), ``strategies`` (budget and target searches
over routes), ``session`` (every encode and decode of one image, cached), ``search`` (monotone integer searches),
``predictor`` (the gain table: network gains and speed maps, ``gain_table.json``), ``receiver_model`` (the
decoder as the encoder models it), ``mosaic`` (the tile mosaic), ``final`` (the final encode's search),
``calibrate`` (``python -m sr_codec.rate``: measures the gain table).

**Guarantee.** ``mode="best"``: routes without a network (scale 1 "inner codec alone" among them) are measured
exactly and network routes decoded, so on any image at any budget the chosen payload decodes at least as well as
a plain Pillow .avif file at full resolution within the same bytes. Scale 1 is coded at Pillow's default AVIF
speed for this (:meth:`~sr_codec.codecs.InnerCodec.as_plain_file`): its bitstream is then the file's own, ~250
container bytes smaller. ``mode="fast"`` keeps scale 1 a plain speed-6 file but judges routes by prediction, so
its "never worse" is a measured statistic (docs/rate_control.md). The searches assume sizes grow with quality
(true of AVIF but for rare one-step wobbles, which those spare bytes absorb).
"""
