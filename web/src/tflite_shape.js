/**
 * Fix the input (and output) size of a TFLite model whose height and width are dynamic.
 *
 * The exported networks take float32 [1, H, W, 3] with H and W dynamic (-1 in the flatbuffer's
 * `shape_signature`), but LiteRT.js's CompiledModel only accepts tensors of the exact size stored
 * in the model. So, per image size, we copy the flatbuffer and overwrite, in place, the
 * `shape` and `shape_signature` vectors (4 int32 each) of the subgraph's input and output tensors:
 * [1, h, w, 3] and [1, h*s, w*s, 3]. Every op computes its own output size when the model is
 * prepared, exactly as `Interpreter.resize_tensor_input` would.
 *
 * Only the few tables needed are read (TFLite schema: Model.subgraphs = field 2,
 * SubGraph.tensors/inputs/outputs = fields 0/1/2, Tensor.shape = 0, Tensor.shape_signature = 7);
 * every offset is bounds-checked, so a damaged file raises instead of writing out of place.
 */

/** @param {DataView} view @param {number} pos */
function checkedU32(view, pos) {
  if (pos < 0 || pos + 4 > view.byteLength) throw new RangeError(`TFLite flatbuffer offset ${pos} out of range`);
  return view.getUint32(pos, true);
}

/** Position of field `index` of the table at `table`, or -1 when absent. */
function fieldPos(view, table, index) {
  const vtable = table - view.getInt32(table, true);
  const vtableSize = view.getUint16(vtable, true);
  const slot = 4 + 2 * index;
  if (slot + 2 > vtableSize) return -1;
  const offset = view.getUint16(vtable + slot, true);
  return offset === 0 ? -1 : table + offset;
}

/** Target of the reference (uoffset) stored in field `index` of `table`, or -1. */
function refField(view, table, index) {
  const pos = fieldPos(view, table, index);
  return pos < 0 ? -1 : pos + checkedU32(view, pos);
}

/** [position of the first element, length] of the vector in field `index`, or null. */
function vectorField(view, table, index) {
  const vec = refField(view, table, index);
  if (vec < 0) return null;
  const length = checkedU32(view, vec);
  if (vec + 4 + 4 * length > view.byteLength) throw new RangeError('TFLite flatbuffer vector runs past the end');
  return [vec + 4, length];
}

/** The table that element `i` of a vector of tables points to. */
function tableAt(view, [start, length], i) {
  if (i < 0 || i >= length) throw new RangeError(`TFLite flatbuffer index ${i} out of range`);
  const pos = start + 4 * i;
  return pos + checkedU32(view, pos);
}

function writeShape(view, tensor, shape) {
  for (const field of [0, 7]) { // shape, shape_signature
    const vec = vectorField(view, tensor, field);
    if (!vec) continue;
    if (vec[1] !== shape.length) throw new Error(`tensor of rank ${vec[1]}, expected ${shape.length}`);
    shape.forEach((value, k) => view.setInt32(vec[0] + 4 * k, value, true));
  }
}

/**
 * A copy of `model` (TFLite flatbuffer bytes) whose first input is [1, height, width, 3] and
 * first output [1, height*scale, width*scale, 3].
 * @param {Uint8Array} model @param {number} height @param {number} width @param {number} scale
 * @returns {Uint8Array}
 */
export function withFixedSize(model, height, width, scale) {
  const bytes = model.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const root = checkedU32(view, 0);
  const subgraphs = vectorField(view, root, 2);
  if (!subgraphs || subgraphs[1] < 1) throw new Error('TFLite model has no subgraph');
  const graph = tableAt(view, subgraphs, 0);
  const tensors = vectorField(view, graph, 0);
  const inputs = vectorField(view, graph, 1);
  const outputs = vectorField(view, graph, 2);
  if (!tensors || !inputs || !outputs || inputs[1] !== 1 || outputs[1] !== 1) {
    throw new Error('TFLite model must have exactly one input and one output');
  }
  const tensorIndex = (vec) => view.getInt32(vec[0], true);
  writeShape(view, tableAt(view, tensors, tensorIndex(inputs)), [1, height, width, 3]);
  writeShape(view, tableAt(view, tensors, tensorIndex(outputs)), [1, height * scale, width * scale, 3]);
  return bytes;
}

/** The tensor name (field 3) of a Tensor table, '' when absent. */
function tensorName(view, bytes, tensor) {
  const pos = refField(view, tensor, 3);
  if (pos < 0) return '';
  const length = checkedU32(view, pos);
  if (pos + 4 + length > view.byteLength) throw new RangeError('TFLite tensor name runs past the end');
  return new TextDecoder().decode(bytes.subarray(pos + 4, pos + 4 + length));
}

/**
 * A copy of `model` with every input and output shape fixed: `shapeOf(name, kind, index)` returns the
 * shape for the subgraph's input (`kind` 'input') or output tensor of that name. Returns the copy and
 * the input names in the model's order (for a model with several inputs, e.g. the learned downscaler).
 * @param {Uint8Array} model @param {(name: string, kind: string, index: number) => number[]} shapeOf
 * @returns {{bytes: Uint8Array, inputs: string[]}}
 */
export function withFixedShapes(model, shapeOf) {
  const bytes = model.slice();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const root = checkedU32(view, 0);
  const subgraphs = vectorField(view, root, 2);
  if (!subgraphs || subgraphs[1] < 1) throw new Error('TFLite model has no subgraph');
  const graph = tableAt(view, subgraphs, 0);
  const tensors = vectorField(view, graph, 0);
  const names = [];
  for (const [kind, field] of [['input', 1], ['output', 2]]) {
    const vec = vectorField(view, graph, field);
    if (!tensors || !vec) throw new Error(`TFLite model has no ${kind}s`);
    for (let i = 0; i < vec[1]; i++) {
      const tensor = tableAt(view, tensors, view.getInt32(vec[0] + 4 * i, true));
      const name = tensorName(view, bytes, tensor);
      if (kind === 'input') names.push(name);
      writeShape(view, tensor, shapeOf(name, kind, i));
    }
  }
  return { bytes, inputs: names };
}
