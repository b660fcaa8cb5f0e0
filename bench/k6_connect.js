// k6's own view of the same handshake: ws_connecting is TCP connect + upgrade.
import ws from 'k6/ws';

export const options = { vus: 1, iterations: Number(__ENV.N || 200) };

export default function () {
  ws.connect(__ENV.URL, { headers: { 'Sec-WebSocket-Protocol': 'jwt-auth' } }, function (socket) {
    socket.on('open', () => socket.close());
  });
}

export function handleSummary(data) {
  return { stdout: JSON.stringify(data.metrics.ws_connecting.values) + '\n' };
}
