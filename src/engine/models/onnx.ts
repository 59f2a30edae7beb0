/**
 * ONNX models as differentiable tfjs functions. Some recognizers ship only as `.onnx` (faceplugin's MobileFaceNet),
 * and tfjs has no ONNX reader; onnxruntime-web runs them but cannot take gradients with respect to the input. An
 * ONNX file is a protobuf `ModelProto` (onnx/onnx.proto) holding a graph of nodes and constant initializers; this file
 * reads it with a minimal protobuf decoder and runs each node with the tfjs op of the same meaning, so tf.grad works
 * through the model on every backend.
 *
 * ONNX is NCHW; tfjs convolutions are fastest (and have every gradient kernel) in NHWC. The graph runs in NHWC: 4-D
 * activations are kept channels-last, weights are transposed once at load, and a node that depends on the layout
 * (Flatten, Reshape) turns its input back to NCHW first so the flattened order is the model's.
 *
 * Only the operators our models use are supported; any other one is refused by name when the model loads.
 */
import * as tf from '@tensorflow/tfjs';

/**
 * Reads the varint at `bytes[at]`; returns it and the offset after it. int64 negatives (ONNX writes -1 for "infer this
 * dimension") are ten-byte two's complement varints, beyond a double's 53 bits: those are read exactly with BigInt.
 */
function readVarint(bytes: Uint8Array, at: number, end: number): [number, number] {
  let result = 0;
  let scale = 1;
  for (let i = at; i < end; i++) {
    const byte = bytes[i];
    if (i - at === 7) break; // 49 bits read, more to come: take the exact path below.
    result += (byte & 0x7f) * scale;
    if (byte < 0x80) return [result, i + 1];
    scale *= 128;
  }
  let big = 0n;
  for (let i = at, shift = 0n; i < end && i - at < 10; i++, shift += 7n) {
    big |= BigInt(bytes[i] & 0x7f) << shift;
    if (bytes[i] < 0x80) return [Number(BigInt.asIntN(64, big)), i + 1];
  }
  throw new Error('ONNX file is truncated or damaged (varint)');
}

/** A minimal protobuf reader: varints, 32/64-bit scalars and length-delimited fields, as (field number, value) pairs. */
class Protobuf {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  constructor(bytes: Uint8Array) {
    // A plain view: a Node Buffer's `slice` shares memory, and `bytesOf` needs a copy that owns its ArrayBuffer.
    this.bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  /** Every field of the message in bytes[start, end), in order. */
  fields(start = 0, end = this.bytes.length): ProtoField[] {
    const fields: ProtoField[] = [];
    let at = start;
    const varint = (): number => {
      const [value, next] = readVarint(this.bytes, at, end);
      at = next;
      return value;
    };
    while (at < end) {
      const key = varint();
      const field = Math.floor(key / 8);
      const wire = key % 8;
      if (wire === 0) {
        fields.push({ field, wire, value: varint(), start: 0, end: 0 });
      } else if (wire === 1 || wire === 5) {
        const size = wire === 1 ? 8 : 4;
        if (at + size > end) throw new Error('ONNX file is truncated (field)');
        const value = wire === 1 ? this.view.getFloat64(at, true) : this.view.getFloat32(at, true);
        fields.push({ field, wire, value, start: at, end: at + size });
        at += size;
      } else if (wire === 2) {
        const length = varint();
        if (length < 0 || at + length > end) throw new Error('ONNX file is truncated (field)');
        fields.push({ field, wire, value: length, start: at, end: at + length });
        at += length;
      } else {
        throw new Error(`ONNX file has protobuf wire type ${wire}, which is not supported`);
      }
    }
    return fields;
  }
  string(field: ProtoField): string {
    return new TextDecoder().decode(this.bytes.subarray(field.start, field.end));
  }
  /** A copy: the field is not guaranteed to be aligned for a typed-array view. */
  bytesOf(field: ProtoField): Uint8Array {
    return this.bytes.slice(field.start, field.end);
  }
  /** A repeated varint field, packed (one length-delimited field) or not (one field each). */
  varints(fields: ProtoField[], number: number): number[] {
    const values: number[] = [];
    for (const field of fields) {
      if (field.field !== number) continue;
      if (field.wire === 0) {
        values.push(field.value);
        continue;
      }
      for (let at = field.start; at < field.end; ) {
        const [value, next] = readVarint(this.bytes, at, field.end);
        values.push(value);
        at = next;
      }
    }
    return values;
  }
}

interface ProtoField {
  field: number;
  wire: number;
  /** The varint or float for wire types 0, 1, 5; the length for wire type 2. */
  value: number;
  start: number;
  end: number;
}

/** What faceplugin's MobileFaceNet uses (Conv, PRelu, Add, Reshape), and Flatten and Gemm, its usual head. */
const supportedOps = ['Conv', 'PRelu', 'Add', 'Flatten', 'Reshape', 'Gemm'] as const;
export type OnnxOpName = (typeof supportedOps)[number];
const isSupported = (op: string): op is OnnxOpName => (supportedOps as readonly string[]).includes(op);

export interface OnnxConstant {
  name: string;
  dims: number[];
  data: Float32Array | Int32Array;
}

export type OnnxAttribute = number | number[] | string;

export interface OnnxNode {
  op: OnnxOpName;
  name: string;
  inputs: string[];
  outputs: string[];
  attributes: Record<string, OnnxAttribute>;
}

export interface OnnxModel {
  nodes: OnnxNode[];
  constants: Map<string, OnnxConstant>;
  /** Graph inputs that are not initializers (the model's real inputs). */
  inputs: string[];
  outputs: string[];
}

/** TensorProto.DataType values we read. */
const FLOAT = 1;
const INT32 = 6;
const INT64 = 7;

function readTensor(pb: Protobuf, fields: ProtoField[]): OnnxConstant {
  // TensorProto: 1 dims, 2 data_type, 4 float_data, 5 int32_data, 7 int64_data, 8 name, 9 raw_data.
  const name = fields.filter((f) => f.field === 8).map((f) => pb.string(f))[0] ?? '';
  const dims = pb.varints(fields, 1);
  const type = pb.varints(fields, 2)[0] ?? 0;
  const raw = fields.find((f) => f.field === 9);
  const width = type === INT64 ? 8 : 4;
  if (raw && (raw.end - raw.start) % width) throw new Error(`ONNX tensor ${name} has ${raw.end - raw.start} bytes of ${width}-byte values`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (type === FLOAT) {
    let data: Float32Array;
    if (raw) data = new Float32Array(pb.bytesOf(raw).buffer);
    else {
      const packed = fields.filter((f) => f.field === 4);
      data = new Float32Array(
        packed.flatMap((f) => (f.wire === 5 ? [f.value] : Array.from(new Float32Array(pb.bytesOf(f).buffer)))),
      );
    }
    if (data.length !== count) throw new Error(`ONNX tensor ${name} has ${data.length} values for shape [${dims}]`);
    return { name, dims, data };
  }
  if (type === INT64 || type === INT32) {
    let values: number[];
    if (raw) {
      const bytes = pb.bytesOf(raw);
      const view = new DataView(bytes.buffer);
      values =
        type === INT64
          ? Array.from({ length: bytes.length / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true)))
          : Array.from(new Int32Array(bytes.buffer));
    } else values = pb.varints(fields, type === INT64 ? 7 : 5);
    return { name, dims, data: Int32Array.from(values) };
  }
  throw new Error(`ONNX tensor ${name} has data type ${type}; only float32, int32 and int64 are supported`);
}

function readAttribute(pb: Protobuf, fields: ProtoField[]): [string, OnnxAttribute] {
  // AttributeProto: 1 name, 2 f, 3 i, 4 s, 8 ints, 20 type (1 FLOAT, 2 INT, 3 STRING, 7 INTS).
  const name = pb.string(fields.find((f) => f.field === 1)!);
  const type = pb.varints(fields, 20)[0];
  const f = fields.find((field) => field.field === 2);
  const s = fields.find((field) => field.field === 4);
  if (type === 1 && f) return [name, f.value];
  if (type === 2) return [name, pb.varints(fields, 3)[0]];
  if (type === 3 && s) return [name, pb.string(s)];
  if (type === 7) return [name, pb.varints(fields, 8)];
  throw new Error(`ONNX attribute ${name} has type ${type}, which is not supported`);
}

/** Reads an ONNX model's main graph. Throws on unsupported operators and tensor types. */
export function parseOnnx(bytes: Uint8Array): OnnxModel {
  const pb = new Protobuf(bytes);
  // ModelProto: 7 graph. GraphProto: 1 node, 5 initializer, 11 input, 12 output. ValueInfoProto: 1 name.
  const graphField = pb.fields().find((f) => f.field === 7 && f.wire === 2);
  if (!graphField) throw new Error('ONNX file has no graph');
  const graph = pb.fields(graphField.start, graphField.end);
  const constants = new Map<string, OnnxConstant>();
  for (const f of graph.filter((field) => field.field === 5)) {
    const tensor = readTensor(pb, pb.fields(f.start, f.end));
    constants.set(tensor.name, tensor);
  }
  const valueName = (f: ProtoField) => pb.string(pb.fields(f.start, f.end).find((field) => field.field === 1)!);
  const nodes: OnnxNode[] = [];
  for (const f of graph.filter((field) => field.field === 1)) {
    // NodeProto: 1 input, 2 output, 3 name, 4 op_type, 5 attribute.
    const nodeFields = pb.fields(f.start, f.end);
    const strings = (number: number) => nodeFields.filter((field) => field.field === number).map((field) => pb.string(field));
    const op = strings(4)[0] ?? '';
    const name = strings(3)[0] ?? '';
    const outputs = strings(2);
    if (!isSupported(op)) throw new Error(`ONNX operator ${op} (${name || outputs[0]}) is not supported`);
    const attributes: Record<string, OnnxAttribute> = {};
    for (const a of nodeFields.filter((field) => field.field === 5)) {
      const [key, value] = readAttribute(pb, pb.fields(a.start, a.end));
      attributes[key] = value;
    }
    nodes.push({ op, name, inputs: strings(1), outputs, attributes });
  }
  const inputs = graph
    .filter((field) => field.field === 11)
    .map(valueName)
    .filter((name) => !constants.has(name));
  const outputs = graph.filter((field) => field.field === 12).map(valueName);
  return { nodes, constants, inputs, outputs };
}

/** A layout-free view of a constant as a tfjs tensor in ONNX's own (NCHW) order. */
function constantTensor(constant: OnnxConstant): tf.Tensor {
  return tf.tensor(constant.data, constant.dims, constant.data instanceof Int32Array ? 'int32' : 'float32');
}

/** ONNX `pads` [top, left, bottom, right] as a tfjs padding: a number when all four agree, else explicit. */
function convPadding(pads: number[] | undefined): number | tf.backend_util.ExplicitPadding {
  const [top = 0, left = 0, bottom = 0, right = 0] = pads ?? [];
  if (top === left && left === bottom && bottom === right) return top;
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/**
 * An ONNX model as a tfjs function of its (single) NCHW image input, taken and computed in NHWC. Constants become
 * tensors once, at load, in the layout their operator needs.
 */
export interface OnnxGraph {
  readonly model: OnnxModel;
  /**
   * Runs the model on an NHWC batch; returns the tensors named in `outputs` (default: the model's outputs), 4-D ones
   * in NHWC. Call inside tf.tidy.
   */
  execute(input: tf.Tensor4D, outputs?: readonly string[]): tf.Tensor[];
  dispose(): void;
}

interface ConvWeights {
  filter: tf.Tensor4D;
  bias?: tf.Tensor1D;
  depthwise: boolean;
  strides: [number, number];
  dilations: [number, number];
  pad: number | tf.backend_util.ExplicitPadding;
}

export function loadOnnxGraph(bytes: Uint8Array): OnnxGraph {
  const model = parseOnnx(bytes);
  if (model.inputs.length !== 1) throw new Error(`ONNX model has ${model.inputs.length} inputs; one is supported`);
  const owned: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(tensor: T): T => {
    owned.push(tensor);
    return tensor;
  };
  const constantOf = (name: string, where: string): OnnxConstant => {
    const constant = model.constants.get(name);
    if (!constant) throw new Error(`${where}: input ${name} is not a constant`);
    return constant;
  };
  const convs = new Map<OnnxNode, ConvWeights>();
  /**
   * Every other constant in the form its operator uses: per-channel ones (PRelu slopes, Add operands) flattened to
   * broadcast over NHWC under their own names; Gemm's weight and bias under `<node output>/w|c`.
   */
  const prepared = new Map<string, tf.Tensor>();
  // Build every constant in its tfjs layout now, outside any tidy, so `execute` (always called inside one) only
  // reads them: a constant first made inside the caller's tidy would be disposed with its results.
  try {
    for (const node of model.nodes) {
      const where = `ONNX ${node.op} ${node.name || node.outputs[0]}`;
      if (node.op === 'Conv') {
        const weight = constantOf(node.inputs[1], where);
        const group = (node.attributes.group as number | undefined) ?? 1;
        const [outChannels, inPerGroup] = weight.dims;
        const depthwise = group !== 1;
        if (depthwise && (inPerGroup !== 1 || outChannels !== group)) {
          throw new Error(`${where}: grouped convolution (group ${group}) other than depthwise is not supported`);
        }
        const filter = tf.tidy(() =>
          // ONNX [O, I, kh, kw] -> tfjs HWIO; depthwise [C, 1, kh, kw] -> [kh, kw, C, 1].
          tf.transpose(constantTensor(weight), depthwise ? [2, 3, 0, 1] : [2, 3, 1, 0]),
        ) as tf.Tensor4D;
        keep(filter);
        const biasName = node.inputs[2];
        const bias = biasName ? keep(constantTensor(constantOf(biasName, where)) as tf.Tensor1D) : undefined;
        const pair = (name: string): [number, number] => {
          const value = node.attributes[name] as number[] | undefined;
          return [value?.[0] ?? 1, value?.[1] ?? 1];
        };
        if (node.attributes.auto_pad !== undefined && node.attributes.auto_pad !== 'NOTSET') {
          throw new Error(`${where}: auto_pad ${String(node.attributes.auto_pad)} is not supported`);
        }
        convs.set(node, {
          filter,
          bias,
          depthwise,
          strides: pair('strides'),
          dilations: pair('dilations'),
          pad: convPadding(node.attributes.pads as number[] | undefined),
        });
      } else if (node.op === 'PRelu') {
        const slope = constantOf(node.inputs[1], where);
        prepared.set(slope.name, keep(tf.tidy(() => tf.reshape(constantTensor(slope), [-1]))));
      } else if (node.op === 'Add') {
        for (const name of node.inputs) {
          const constant = model.constants.get(name);
          if (!constant) continue;
          // A per-channel constant [C, 1, 1] broadcasts over NCHW; over NHWC it is [C].
          const channelShaped = constant.dims.length === 3 && constant.dims[1] === 1 && constant.dims[2] === 1;
          if (constant.dims.length > 1 && !channelShaped) throw new Error(`${where}: constant ${name} of shape [${constant.dims}] is not supported`);
          prepared.set(name, keep(tf.tidy(() => tf.reshape(constantTensor(constant), [-1]))));
        }
      } else if (node.op === 'Gemm') {
        const weight = constantOf(node.inputs[1], where);
        const transB = node.attributes.transB === 1;
        if ((node.attributes.transA ?? 0) !== 0) throw new Error(`${where}: transA is not supported`);
        const alpha = (node.attributes.alpha as number | undefined) ?? 1;
        const beta = (node.attributes.beta as number | undefined) ?? 1;
        prepared.set(
          `${node.outputs[0]}/w`,
          keep(tf.tidy(() => tf.mul(transB ? tf.transpose(constantTensor(weight)) : constantTensor(weight), alpha))),
        );
        const biasName = node.inputs[2];
        if (biasName) prepared.set(`${node.outputs[0]}/c`, keep(tf.tidy(() => tf.mul(constantTensor(constantOf(biasName, where)), beta))));
      }
    }
  } catch (error) {
    tf.dispose(owned);
    throw error;
  }

  const computed = new Set(model.nodes.flatMap((node) => node.outputs));
  return {
    model,
    execute(input, outputs) {
      const wanted = [...(outputs ?? model.outputs)];
      for (const name of wanted) {
        if (!computed.has(name)) throw new Error(`ONNX model has no computed tensor "${name}"`);
      }
      const values = new Map<string, tf.Tensor>([[model.inputs[0], input]]);
      const value = (name: string): tf.Tensor => {
        const tensor = values.get(name) ?? prepared.get(name);
        if (!tensor) throw new Error(`ONNX tensor "${name}" is used before it is computed`);
        return tensor;
      };
      /** NHWC activations back to ONNX's NCHW, for operators whose result depends on the element order. */
      const toOnnxOrder = (x: tf.Tensor) => (x.rank === 4 ? tf.transpose(x, [0, 3, 1, 2]) : x);
      for (const node of model.nodes) {
        const [a, b] = node.inputs;
        let out: tf.Tensor;
        switch (node.op) {
          case 'Conv': {
            const conv = convs.get(node)!;
            const x = value(a) as tf.Tensor4D;
            out = conv.depthwise
              ? tf.depthwiseConv2d(x, conv.filter, conv.strides, conv.pad, 'NHWC', conv.dilations)
              : tf.conv2d(x, conv.filter, conv.strides, conv.pad, 'NHWC', conv.dilations);
            if (conv.bias) out = tf.add(out, conv.bias);
            break;
          }
          case 'PRelu':
            out = tf.prelu(value(a), value(b));
            break;
          case 'Add': {
            const [x, y] = [value(a), value(b)];
            // ONNX broadcasts a vector over the last axis, which is W in NCHW but C in our NHWC activations; a
            // per-channel constant is stored [C, 1, 1] and was flattened at load, so only a true vector is ambiguous.
            for (const [name, other] of [[a, y], [b, x]] as const) {
              const constant = model.constants.get(name);
              if (constant?.dims.length === 1 && constant.dims[0] > 1 && other.rank === 4) {
                throw new Error(`ONNX ${node.op} ${node.name}: a vector constant on a 4-D activation is not supported`);
              }
            }
            out = tf.add(x, y);
            break;
          }
          case 'Flatten': {
            const x = toOnnxOrder(value(a));
            const axis = (node.attributes.axis as number | undefined) ?? 1;
            const lead = x.shape.slice(0, axis).reduce((p, q) => p * q, 1);
            out = tf.reshape(x, [lead, -1]);
            break;
          }
          case 'Reshape': {
            const x = toOnnxOrder(value(a));
            const target = Array.from(model.constants.get(b)?.data ?? []);
            if (!target.length) throw new Error(`ONNX Reshape ${node.name}: its shape is not a constant`);
            // 0 copies the input's dimension (the batch, whatever size the model was exported with). A 4-D result would
            // be in NCHW order, which every later node would read as NHWC: refused.
            if (target.length === 4) throw new Error(`ONNX Reshape ${node.name}: a 4-D result is not supported`);
            out = tf.reshape(x, target.map((d, i) => (d === 0 || i === 0 ? x.shape[i]! : d)));
            break;
          }
          case 'Gemm': {
            const bias = prepared.get(`${node.outputs[0]}/c`);
            out = tf.matMul(value(a) as tf.Tensor2D, prepared.get(`${node.outputs[0]}/w`) as tf.Tensor2D);
            if (bias) out = tf.add(out, bias);
            break;
          }
        }
        values.set(node.outputs[0], out);
      }
      return wanted.map((name) => values.get(name)!);
    },
    dispose() {
      tf.dispose(owned);
      owned.length = 0;
    },
  };
}
