/** bench:tftp helper: our TFTP server alone on ADDRESS:PORT (default 127.0.0.1) serving ROOT (prints READY). */
import { TftpServer } from '../../libs/tftp/src';

const [root, port, address] = [process.argv[2], Number(process.argv[3]), process.argv[4] ?? '127.0.0.1'];
const s = new TftpServer({ address, port, root });
void s.start().then(() => console.log('READY'));
process.on('SIGTERM', () => void s.stop().then(() => process.exit(0)));
