// rack: the rack view, a live web page of every node (state, power, instance, maintenance, the
// deploy's phase and progress, the timeline on click) on `[rack] listen_address:port`
// (127.0.0.1:9180). The process wiring is shared (libs/service); /healthz on 9107.
import 'reflect-metadata';
import { runService } from '@bm/service';
import { RackModule } from './rack.module';

void runService({ name: 'rack', healthPort: 9107, imports: [RackModule] });
