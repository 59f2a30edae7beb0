/**
 * The harness's own sink proxy (harness.ts), without a browser: Chromium resets CONNECT sockets the proxy has refused
 * (given-up preconnects, the browser closing), and a reset must not surface as an uncaught error in the test that
 * launched the browser.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startSinkProxy } from './harness.ts';

test('sink proxy: CONNECT sockets the client resets raise no uncaught error, and close ends them', async () => {
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  const recorded: string[] = [];
  const proxy = await startSinkProxy((method, url) => recorded.push(`${method} ${url}`));
  try {
    const resets = Array.from({ length: 20 }, (_, i) =>
      new Promise<void>((resolve) => {
        const socket = connect(proxy.port, '127.0.0.1', () => {
          socket.write(`CONNECT host${i}.example:443 HTTP/1.1\r\nHost: host${i}.example:443\r\n\r\n`);
          // A reset at once or a little later: before, while and after the proxy writes its 502.
          setTimeout(() => socket.resetAndDestroy(), i % 5);
        });
        socket.on('error', () => undefined);
        socket.on('close', () => resolve());
      }),
    );
    // And one the client leaves open, which close() must end.
    const open = connect(proxy.port, '127.0.0.1', () => open.write('CONNECT kept.example:443 HTTP/1.1\r\nHost: kept.example:443\r\n\r\n'));
    open.on('error', () => undefined);
    open.resume(); // Reads (and drops) the 502, so the socket sees its end.
    const openClosed = new Promise<void>((resolve) => open.on('close', () => resolve()));
    await Promise.all(resets);
    await new Promise((resolve) => setTimeout(resolve, 200));
    await proxy.close();
    await openClosed;
    assert.deepEqual(uncaught, [], 'no uncaught socket error');
    assert.equal(recorded.filter((r) => r.startsWith('CONNECT host')).length, 20, 'every CONNECT was recorded');
  } finally {
    process.off('uncaughtException', onUncaught);
  }
});
