// Every page of the UI, in navigation order. A new page (policies, ...) is one module
// in this folder and one line here.

import activity from './activity.js';
import hosts from './hosts.js';
import policies from './policies.js';
import receivers from './receivers.js';
import service from './service.js';
import services from './services.js';

export const PAGES = [services, service, receivers, policies, activity, hosts];
