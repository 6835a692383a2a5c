// An aedes broker on 127.0.0.1 for the tests: MQTT 3.1.1 only (it refuses MQTT 5 with
// "Unsupported protocol version"). Usage: node aedes_broker.mjs PORT; prints "listening PORT" when ready.
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2] || 0)
const broker = await Aedes.createBroker()
const server = net.createServer(broker.handle)
server.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`)
})
const stop = () => server.close(() => broker.close(() => process.exit(0)))
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
