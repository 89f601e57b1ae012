/** bench:tftp helper: our TFTP server alone on 127.0.0.1:PORT serving ROOT (prints READY). */
import { TftpServer } from '../../libs/tftp/src';

const [root, port] = [process.argv[2], Number(process.argv[3])];
const s = new TftpServer({ address: '127.0.0.1', port, root });
void s.start().then(() => console.log('READY'));
process.on('SIGTERM', () => void s.stop().then(() => process.exit(0)));
