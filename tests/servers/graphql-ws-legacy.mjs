// subscriptions-transport-ws, the legacy GraphQL over WebSocket server (subprotocol
// graphql-ws): onConnect throws for a token other than GOOD_TOKEN, which the library sends as
// connection_error before closing with 1011; `ka` keep-alives every 200 ms.
// Run by tests/it/helpers/servers.rs: PORT, GOOD_TOKEN in the environment.
import transport from 'subscriptions-transport-ws';
import { buildSchema, execute, subscribe } from 'graphql';

const schema = buildSchema(`
  type Query { hello: String }
  type Subscription { greetings: String }
`);
const rootValue = {
  hello: () => 'world',
  greetings: async function* () {
    for (const hi of ['Hi', 'Bonjour']) yield { greetings: hi };
  },
};

const server = transport.SubscriptionServer.create(
  {
    schema,
    rootValue,
    execute,
    subscribe,
    keepAlive: 200,
    onConnect: (params) => {
      if (params?.token !== process.env.GOOD_TOKEN) throw new Error('not authorized');
      return true;
    },
  },
  { host: '127.0.0.1', port: Number(process.env.PORT), path: '/graphql' },
);
server.server.on('listening', () => console.log('listening'));
