/**
 * Load-time rewrites of a converted TensorFlow graph that make input gradients cheap. Outputs are unchanged: the last
 * node of each rewritten pattern keeps its name, so model outputs and every other node's inputs still resolve.
 *
 * `unfuseGraph` splits fused ops into their plain parts:
 *   _FusedConv2D(x, W, b[, alpha])               -> Conv2D -> BiasAdd -> activation
 *   FusedDepthwiseConv2dNative(x, W, b[, alpha]) -> DepthwiseConv2dNative -> BiasAdd -> activation
 *   _FusedMatMul(a, B, b[, alpha])               -> MatMul -> BiasAdd -> activation
 * Why: tfjs differentiates a fused op with one custom gradient that always computes the filter and bias gradients
 * too. We only ever want the gradient with respect to the input image (weights are constants), and tfjs prunes
 * unneeded inputs of plain ops from the tape, so after this rewrite no filter gradient is computed at all. That makes
 * input gradients several times cheaper, and on wasm it avoids Conv2DBackpropFilter, which wasm does not ship.
 *
 * `fuseActivations` goes the other way for activations that the converter left in pieces:
 *   Maximum(Minimum(Relu(x), 6), 0)       -> Relu6(x)        (Keras ReLU(max_value=6): faceres, faceres-deep)
 *   Maximum(0, x) + gamma * Minimum(0, x) -> Prelu(x, gamma) (MXNet PReLU: mobileface)
 * Why: every piece is a kernel forward and three more backward (a comparison, a Cast and a Mul), and wasm's Minimum
 * and Maximum against a scalar are slow, which made them about a quarter of a cloak step's kernel time on wasm. Relu6
 * and Prelu are one kernel forward each and fewer backward (Relu6: LessEqual, Step, two Mul; Prelu: Greater, Mul,
 * Select). Outputs and input gradients are bit-identical on wasm and cpu; on Node wasm the forward pass takes about
 * 0.55x and forward plus input gradient about 0.75x the time (faceres, faceres-deep, mobileface; see the commit).
 * Prelu's alpha gradient (a masked product, ZerosLike and a Sum) is never computed: tfjs's tape prunes inputs that do
 * not lead back to the differentiated tensor, and gamma is a constant weight.
 * The constants are checked from the weights (6 and 0 exactly, gamma broadcastable along channels), and intermediate
 * nodes must have no other consumer; anything else is left as it is.
 */

export interface GraphNode {
  name: string;
  op: string;
  input?: string[];
  device?: string;
  attr?: Record<string, unknown>;
}

const plainOpFor: Record<string, string> = {
  _FusedConv2D: 'Conv2D',
  FusedDepthwiseConv2dNative: 'DepthwiseConv2dNative',
  _FusedMatMul: 'MatMul',
};

/** Attributes each plain op keeps from its fused original (others, like fused_ops and num_args, are dropped). */
const keptAttrs: Record<string, string[]> = {
  Conv2D: ['T', 'strides', 'padding', 'explicit_paddings', 'data_format', 'dilations', 'use_cudnn_on_gpu'],
  DepthwiseConv2dNative: ['T', 'strides', 'padding', 'explicit_paddings', 'data_format', 'dilations'],
  MatMul: ['T', 'transpose_a', 'transpose_b'],
};

const activations = new Set(['Relu', 'Relu6', 'Elu', 'Sigmoid', 'Tanh', 'LeakyRelu', 'Prelu']);

function decodeFusedOps(node: GraphNode): string[] {
  const list = (node.attr?.fused_ops as { list?: { s?: string[] } } | undefined)?.list?.s ?? [];
  return list.map((encoded) => (typeof atob === 'function' ? atob(encoded) : Buffer.from(encoded, 'base64').toString()));
}

function pick(attr: Record<string, unknown> | undefined, keys: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) if (attr && key in attr) out[key] = attr[key];
  return out;
}

/** Returns a new node list with every fused op split; throws on fusions it does not understand. */
export function unfuseGraph(nodes: readonly GraphNode[]): GraphNode[] {
  const out: GraphNode[] = [];
  for (const node of nodes) {
    const plainOp = plainOpFor[node.op];
    if (!plainOp) {
      out.push(node);
      continue;
    }
    const fused = decodeFusedOps(node);
    const [x, weights, bias, extra] = node.input ?? [];
    const [first, activation, ...rest] = fused;
    if (first !== 'BiasAdd' || rest.length > 0 || (activation && !activations.has(activation))) {
      throw new Error(`unfuseGraph: ${node.name} fuses [${fused.join(', ')}], which is not supported`);
    }
    const T = node.attr?.T;
    const dataFormat = node.attr?.data_format;
    const plainName = `${node.name}/unfused_${plainOp}`;
    const biasName = activation ? `${node.name}/unfused_BiasAdd` : node.name;
    out.push({ name: plainName, op: plainOp, input: [x, weights], device: node.device, attr: pick(node.attr, keptAttrs[plainOp]) });
    out.push({
      name: biasName,
      op: 'BiasAdd',
      input: [plainName, bias],
      device: node.device,
      attr: { T, ...(dataFormat ? { data_format: dataFormat } : {}) },
    });
    if (activation) {
      const attr: Record<string, unknown> = { T };
      if (activation === 'LeakyRelu') attr.alpha = node.attr?.leakyrelu_alpha ?? { f: 0.2 };
      out.push({
        name: node.name,
        op: activation,
        input: activation === 'Prelu' ? [biasName, extra] : [biasName],
        device: node.device,
        attr,
      });
    }
  }
  return out;
}

/** What `fuseActivations` needs to know of a graph's weights: every shape, and the value of each scalar. */
export interface GraphConstant {
  shape: readonly number[];
  /** The value, for a scalar. */
  value?: number;
}

/** `name`, `name:0` and `^name` (a control input) all refer to node `name`. */
function nodeName(input: string): string {
  return input.replace(/^\^/, '').replace(/:\d+$/, '');
}

/** Whether `input` is output 0 of a node, written either way (`name` or `name:0`): the only output these ops have. */
function isFirstOutput(input: string): boolean {
  return !input.startsWith('^') && !/:[1-9]\d*$/.test(input);
}

/** Returns a new node list with the Relu6 and PReLU patterns above replaced by single ops; the rest is kept as is. */
export function fuseActivations(
  nodes: readonly GraphNode[],
  constants: ReadonlyMap<string, GraphConstant>,
): GraphNode[] {
  const byName = new Map(nodes.map((node) => [node.name, node]));
  const consumers = new Map<string, number>();
  for (const node of nodes) {
    for (const input of node.input ?? []) consumers.set(nodeName(input), (consumers.get(nodeName(input)) ?? 0) + 1);
  }

  const constant = (input: string): GraphConstant | undefined =>
    byName.get(nodeName(input))?.op === 'Const' && isFirstOutput(input) ? constants.get(nodeName(input)) : undefined;
  const isScalar = (input: string, value: number) => constant(input)?.value === value;
  /** A node used only by the pattern, so removing it changes nothing else. */
  const privateNode = (input: string, op: string): GraphNode | undefined => {
    const node = byName.get(nodeName(input));
    return node?.op === op && isFirstOutput(input) && consumers.get(node.name) === 1 ? node : undefined;
  };
  /** Splits a binary op's inputs into [the one `test` accepts, the other], in either order. */
  const operands = (node: GraphNode, test: (input: string) => boolean): [string, string] | undefined => {
    const inputs = node.input ?? [];
    if (inputs.length !== 2) return undefined;
    if (test(inputs[0])) return [inputs[0], inputs[1]];
    if (test(inputs[1])) return [inputs[1], inputs[0]];
    return undefined;
  };
  // wasm's Prelu kernel reads alpha[i % alpha.size]: alpha may only vary along the last (channel) axis.
  const isChannelAlpha = (input: string) => {
    const shape = constant(input)?.shape;
    return shape !== undefined && shape.slice(0, -1).every((dim) => dim === 1);
  };

  const removed = new Set<string>();
  const replaced = new Map<string, GraphNode>();
  // Patterns cannot overlap (inner nodes have one consumer), but a node is never rewritten twice all the same.
  const untouched = (...pattern: GraphNode[]) => pattern.every((n) => !removed.has(n.name) && !replaced.has(n.name));
  const T = (node: GraphNode) => ({ T: node.attr?.T ?? { type: 'DT_FLOAT' } });

  for (const node of nodes) {
    if (node.op === 'Maximum') {
      // Relu6: Maximum(Minimum(Relu(x), 6), 0), each inner node used once.
      const [, inner] = operands(node, (input) => isScalar(input, 0)) ?? [];
      const min = inner === undefined ? undefined : privateNode(inner, 'Minimum');
      const [, reluInput] = (min && operands(min, (input) => isScalar(input, 6))) ?? [];
      const relu = reluInput === undefined ? undefined : privateNode(reluInput, 'Relu');
      const x = relu?.input?.length === 1 ? relu.input[0] : undefined;
      if (!min || !relu || x === undefined || !untouched(node, min, relu)) continue;
      replaced.set(node.name, { name: node.name, op: 'Relu6', input: [x], device: node.device, attr: T(node) });
      removed.add(min.name).add(relu.name);
    } else if (node.op === 'AddV2' || node.op === 'Add') {
      // PReLU: Maximum(0, x) + gamma * Minimum(0, x), each inner node used once.
      const [maxInput, mulInput] = operands(node, (input) => privateNode(input, 'Maximum') !== undefined) ?? [];
      const max = maxInput === undefined ? undefined : privateNode(maxInput, 'Maximum');
      const mul = mulInput === undefined ? undefined : privateNode(mulInput, 'Mul');
      const [, x] = (max && operands(max, (input) => isScalar(input, 0))) ?? [];
      const [gamma, minInput] = (mul && operands(mul, isChannelAlpha)) ?? [];
      const min = minInput === undefined ? undefined : privateNode(minInput, 'Minimum');
      const [, minX] = (min && operands(min, (input) => isScalar(input, 0))) ?? [];
      if (!max || !mul || !min || x === undefined || gamma === undefined || minX === undefined) continue;
      if (nodeName(x) !== nodeName(minX) || !isFirstOutput(x) || !isFirstOutput(minX)) continue;
      if (!untouched(node, max, mul, min)) continue;
      replaced.set(node.name, { name: node.name, op: 'Prelu', input: [x, gamma], device: node.device, attr: T(node) });
      removed.add(max.name).add(mul.name).add(min.name);
    }
  }
  return nodes.filter((node) => !removed.has(node.name)).map((node) => replaced.get(node.name) ?? node);
}
