// join_policy: what a loop model (coroutine, coroutine_uring, fiber) does
// when a task joins a child that has not started yet.
//
//   help_first  the default: if the child was queued lately (within
//               detail::kJoinWindow of the ready queue's tail, i.e. just
//               spawned), run it now, as fork-join pools do. A tree that
//               spawns then joins runs depth-first and keeps few tasks live.
//   fifo        the joiner waits; the child runs when the FIFO reaches it.
//               The same tree runs breadth-first: a whole level is live
//               before the next starts (what the callback loops do by
//               default: their queue is a plain FIFO).
//
// Set before run(). skynet measures both (order:depth, order:breadth), so a
// per-task cost is compared at equal traversal order and the order's own
// worth is visible. thread and pool have no such switch: the kernel
// schedules the threads, and the pool's join runs its own newest task.
#pragma once

namespace sy {

enum class join_policy { help_first, fifo };

}  // namespace sy
