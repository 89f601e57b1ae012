// images: the image service, speaking Glance v2 (what nova-bm and the glance CLI use) on
// `[images] api_port` (9292). The process wiring is shared (libs/service); /healthz on 9106.
import 'reflect-metadata';
import { runService } from '@bm/service';
import { ImagesModule } from './images.module';

void runService({ name: 'images', healthPort: 9106, imports: [ImagesModule] });
