"""D4RL's maze2d recipe on Gymnasium-Robotics PointMaze: a noisy waypoint controller chasing re-drawn goals."""

from __future__ import annotations

from collections import deque
from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np

from cnfrl.envs.make import make_env

MAZE_ENVS = {"umaze": "PointMaze_UMaze-v3", "medium": "PointMaze_Medium-v3", "large": "PointMaze_Large-v3"}
EPISODE_STEPS = {"umaze": 300, "medium": 600, "large": 800}
GOAL_RADIUS = 0.45


def maze_env_id(maze: str, dense: bool) -> str:
    """Gymnasium id of a maze: PointMaze_<Size>-v3, or its Dense variant for the dense reward."""
    env_id = MAZE_ENVS[maze]
    return env_id.replace("-v3", "Dense-v3") if dense else env_id


def make_maze_env(maze: str, dense: bool, collecting: bool) -> gym.Env:
    """The PointMaze of `maze`; when collecting, goals are re-drawn on arrival and there is no time limit."""
    kwargs: dict[str, Any] = {"continuing_task": True, "reset_target": collecting}
    if collecting:
        kwargs["max_episode_steps"] = 10**9
    return make_env(maze_env_id(maze, dense), **kwargs)


class WaypointController:
    """PD control toward the next cell centre on a shortest grid path to the goal, plus Gaussian noise.

    As in D4RL's maze2d generator: action = p_gain * (waypoint - position) + d_gain * velocity, clipped to
    [-1, 1]; inside the goal's cell the waypoint is the goal itself.
    """

    def __init__(self, env: gym.Env, p_gain: float = 10.0, d_gain: float = -1.0, noise: float = 0.0, seed: int = 0):
        self.maze = env.unwrapped.maze  # type: ignore[attr-defined]  # PointMaze's env exposes its maze
        self.free = np.array([[cell != 1 for cell in row] for row in self.maze.maze_map])
        self.p_gain, self.d_gain, self.noise = p_gain, d_gain, noise
        self.rng = np.random.default_rng(seed)

    def __call__(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        position, velocity = observation["observation"][:2], observation["observation"][2:4]
        goal = observation["desired_goal"]
        waypoint = self.waypoint(position, goal)
        action = self.p_gain * (waypoint - position) + self.d_gain * velocity
        action = action + self.noise * self.rng.standard_normal(2)
        return np.clip(action, -1.0, 1.0).astype(np.float32)

    def waypoint(self, position: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """The centre of the next cell toward the goal, or the goal itself once in the goal's cell."""
        here = tuple(self.maze.cell_xy_to_rowcol(position))
        target = tuple(self.maze.cell_xy_to_rowcol(goal))
        if here == target or not self._inside(here):
            return goal
        distances = self._distances(target)
        row, col = here
        neighbours = [(row + dr, col + dc) for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1))]
        best = min((n for n in neighbours if self._inside(n) and self.free[n]), key=lambda n: distances[n])
        return self.maze.cell_rowcol_to_xy(np.array(best))

    def _inside(self, cell: tuple[int, int]) -> bool:
        return 0 <= cell[0] < self.free.shape[0] and 0 <= cell[1] < self.free.shape[1]

    def _distances(self, target: tuple[int, int]) -> np.ndarray:
        return _grid_distances(self.free.tobytes(), self.free.shape, target)


@cache
def _grid_distances(free_bytes: bytes, shape: tuple[int, int], target: tuple[int, int]) -> np.ndarray:
    free = np.frombuffer(free_bytes, bool).reshape(shape)
    distances = np.full(shape, np.inf)
    distances[target] = 0
    queue = deque([target])
    while queue:
        row, col = queue.popleft()
        for cell in ((row - 1, col), (row + 1, col), (row, col - 1), (row, col + 1)):
            if 0 <= cell[0] < shape[0] and 0 <= cell[1] < shape[1] and free[cell] and distances[cell] == np.inf:
                distances[cell] = distances[row, col] + 1
                queue.append(cell)
    return distances


def goal_success_rate(maze: str, noise: float, goals: int, seed: int = 0) -> tuple[float, float]:
    """Fraction of goals the controller reaches within the maze's episode length, and mean steps per goal.

    A goal not reached in time counts as a failure and the maze is reset (new start, new goal).
    """
    env = make_maze_env(maze, dense=False, collecting=True)
    controller = WaypointController(env, noise=noise, seed=seed)
    observation, _ = env.reset(seed=seed)
    reached, steps_taken = 0, []
    for _ in range(goals):
        goal = observation["desired_goal"].copy()
        for step in range(1, EPISODE_STEPS[maze] + 1):
            observation, _, _, _, _ = env.step(controller(observation))
            if np.linalg.norm(observation["achieved_goal"] - goal) <= GOAL_RADIUS:
                reached += 1
                steps_taken.append(step)
                break
        else:
            observation, _ = env.reset()
    return reached / goals, float(np.mean(steps_taken)) if steps_taken else float("nan")
