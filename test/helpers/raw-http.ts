import net from 'node:net'

/** A response read off a raw socket: what a client on the wire sees. */
export interface RawResponse {
  readonly statusCode: number
  /** Header lines as sent, names lower-cased, in order (repeated names stay repeated). */
  readonly headers: ReadonlyArray<readonly [string, string]>
  readonly body: string
}

/**
 * Sends `head` (request line and header lines, without the final blank line) over a plain
 * socket to 127.0.0.1, so the request can carry what HTTP clients refuse to send, such as
 * two Authorization lines.
 */
export async function rawRequest (port: number, head: string[]): Promise<RawResponse> {
  const text = await new Promise<string>((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.end([...head, 'Host: 127.0.0.1', 'Connection: close', '', ''].join('\r\n'))
    })
    let data = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => { data += chunk })
    socket.on('end', () => resolve(data))
    socket.on('error', reject)
  })
  const split = text.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = text.slice(0, split).split('\r\n')
  const headers = lines.map((line): [string, string] => {
    const colon = line.indexOf(':')
    return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()]
  })
  return { statusCode: Number(statusLine.split(' ')[1]), headers, body: text.slice(split + 4) }
}

/** Every value sent for one header name. */
export function headerValues (response: RawResponse, name: string): string[] {
  return response.headers.filter(([key]) => key === name).map(([, value]) => value)
}
