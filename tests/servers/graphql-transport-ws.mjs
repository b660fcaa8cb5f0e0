// The graphql-ws library's own server (subprotocol graphql-transport-ws) as a GraphQL API runs
// it: onConnect accepts a connection_init whose payload carries GOOD_TOKEN and refuses any
// other, which the library closes with 4403 "Forbidden".
// Run by tests/it/helpers/servers.rs: PORT, GOOD_TOKEN in the environment.
import { WebSocketServer } from 'ws';
import { useServer } from 'graphql-ws/lib/use/ws';
import { buildSchema } from 'graphql';

const schema = buildSchema(`
  type Query { hello: String }
  type Subscription { greetings: String }
`);
const roots = {
  query: { hello: () => 'world' },
  subscription: {
    greetings: async function* () {
      for (const hi of ['Hi', 'Bonjour']) yield { greetings: hi };
    },
  },
};

const server = new WebSocketServer({
  host: '127.0.0.1',
  port: Number(process.env.PORT),
  path: '/graphql',
});
useServer(
  {
    schema,
    roots,
    onConnect: (ctx) => ctx.connectionParams?.token === process.env.GOOD_TOKEN,
  },
  server,
);
server.on('listening', () => console.log('listening'));
