// A Socket.IO v4 server with a namespace whose auth middleware accepts only GOOD_TOKEN in the
// handshake's auth (any other gets a connect_error "not authorized"). It pings every 300 ms and
// drops a client that does not pong within 2 s; `wait` is answered by `late` 2.5 s later, so a
// session lives only if its pongs go out while the probe waits.
// Run by tests/it/helpers/servers.rs: PORT, GOOD_TOKEN in the environment.
import { createServer } from 'node:http';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { pingInterval: 300, pingTimeout: 2000, transports: ['websocket'] });
const chat = io.of('/chat');
chat.use((socket, next) => {
  if (socket.handshake.auth?.token === process.env.GOOD_TOKEN) return next();
  next(new Error('not authorized'));
});
chat.on('connection', (socket) => {
  socket.emit('welcome', { user: 'probe' });
  socket.on('wait', () => setTimeout(() => socket.emit('late', { after_ms: 2500 }), 2500));
});
http.listen(Number(process.env.PORT), '127.0.0.1', () => console.log('listening'));
