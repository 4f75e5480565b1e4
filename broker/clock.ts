// The clock port lives in common/ so the broker and the main process share one definition.
export { systemClock, type Clock } from '../common/clock.js';
