// Registers tfjs's WebGPU backend. Imported by browser bundles only: Node has no navigator.gpu.
import '@tensorflow/tfjs-backend-webgpu';
