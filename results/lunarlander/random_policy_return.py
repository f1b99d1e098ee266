"""Mean episode return of uniformly random actions, episodes capped at 400 steps.

The floor of the plasticity score for LunarLander (whose returns have no
lower bound): ``RANDOM_POLICY_RETURNS`` in
``trac_optax/lifelong/_plasticity_score.py``. Run from the repository root:

  python results/lunarlander/random_policy_return.py [ENV_ID] [EPISODES]

Prints the mean and its standard error; deterministic (seeded).
"""

import sys

import gymnasium
import numpy as np


def main(env_id: str = "LunarLander-v3", episodes: int = 4000) -> None:
  env = gymnasium.make(env_id, max_episode_steps=400)
  env.action_space.seed(0)
  returns = []
  for episode in range(episodes):
    env.reset(seed=episode)
    total, done = 0.0, False
    while not done:
      _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
      total += float(reward)
      done = terminated or truncated
    returns.append(total)
  returns = np.asarray(returns)
  print(f"{env_id}: {episodes} episodes of random actions (cap 400): mean "
        f"return {returns.mean():.1f} +- {returns.std() / np.sqrt(episodes):.1f} "
        f"(s.e.), median {np.median(returns):.1f}")


if __name__ == "__main__":
  main(*(f(a) for f, a in zip((str, int), sys.argv[1:])))
