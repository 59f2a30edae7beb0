/**
 * Rewrites a converted TensorFlow graph so that its fused ops become their plain parts:
 *   _FusedConv2D(x, W, b[, alpha])               -> Conv2D -> BiasAdd -> activation
 *   FusedDepthwiseConv2dNative(x, W, b[, alpha]) -> DepthwiseConv2dNative -> BiasAdd -> activation
 *   _FusedMatMul(a, B, b[, alpha])               -> MatMul -> BiasAdd -> activation
 *
 * Why: tfjs differentiates a fused op with one custom gradient that always computes the filter and bias gradients
 * too. We only ever want the gradient with respect to the input image (weights are constants), and tfjs prunes
 * unneeded inputs of plain ops from the tape, so after this rewrite no filter gradient is computed at all. That makes
 * input gradients several times cheaper, and on wasm it avoids Conv2DBackpropFilter, which wasm does not ship.
 * Outputs are unchanged: the last node of each chain keeps the fused node's name.
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
