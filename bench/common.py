"""Synthetic content for benchmarks: N bilingual paper files built from word lists.

``make_content(root, n)`` writes the repo's sample papers plus synthetic ones under
``root/papers/<year>/<id>.md`` in the store's own format (YAML front matter), deterministic
for a given seed. The vocabulary below is our own: short domain terms, combined at random
with a skewed (Zipf-like) frequency, so some words are common and most are rare, as in a real
archive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "content" / "papers"


def _words(text: str) -> list[str]:
    return text.split()


EN_ADJ = _words(
    "efficient scalable robust sparse dense adaptive unified generalist multimodal multilingual "
    "lightweight fast hierarchical recurrent causal contrastive generative discriminative "
    "compositional interpretable controllable faithful grounded zero-shot few-shot self-supervised "
    "semi-supervised parameter-efficient memory-efficient long-horizon open-vocabulary open-source "
    "differentiable probabilistic latent continuous discrete modular structured"
)
EN_NOUN = _words(
    "attention transformer diffusion model language vision retrieval agent planning reasoning "
    "alignment preference reward policy benchmark dataset evaluation tokenizer decoder encoder "
    "embedding representation memory context compression quantization distillation pruning "
    "mixture experts routing segmentation detection tracking reconstruction rendering radiance "
    "field avatar motion video image audio speech music code program theorem mathematics "
    "chemistry protein molecule weather forecasting robot manipulation navigation simulation "
    "world instruction prompt feedback hallucination safety jailbreak watermark privacy "
    "federated graph network kernel optimizer scaling law inference serving caching speculation "
    "sampling denoising upsampling layout typography caption grounding editing inpainting "
    "personalization recommendation ranking search summarization translation dialogue emotion "
    "knowledge table chart document layout scene depth pose gesture face hand point cloud mesh"
)
EN_VERB = _words(
    "improves reduces enables scales unifies accelerates stabilizes compresses aligns grounds "
    "outperforms matches extends simplifies generalizes"
)
EN_FILLER = (
    "across several tasks",
    "with fewer parameters",
    "at lower cost",
    "on public benchmarks",
    "without extra data",
    "in real time",
    "for long inputs",
    "under tight budgets",
)
SYLLABLES = _words(
    "ka lo mi ra ve no ti su ze pa qu lex vid gen mo ra xi an tor bel cor dyn ser pix aud "
    "neo hy per flux syn vox"
)
ZH_TERMS = _words(
    "模型 语言 大型 注意力 机制 训练 推理 数据 数据集 图像 视频 生成 扩散 检索 增强 强化学习 对齐 "
    "偏好 优化 多模态 视觉 文本 代码 智能体 规划 工具 评估 基准 长上下文 记忆 压缩 量化 蒸馏 剪枝 "
    "高效 稀疏 专家 混合 架构 分割 检测 三维 重建 渲染 语音 合成 翻译 数学 幻觉 安全 鲁棒性 微调 "
    "指令 提示 上下文学习 表示 嵌入 对比学习 预训练 缩放 定律 令牌 解码 采样 加速 并行 分布式 "
    "图神经网络 知识 问答 摘要 对话 情感 机器人 控制 导航 世界模型 物理 仿真 医学 分子 蛋白质 "
    "天气 时间序列 推荐 搜索 排序 反馈 人类 奖励 自监督 零样本 少样本 泛化 迁移 领域 适应 "
    "持续学习 遗忘 隐私 联邦 水印 攻击 防御 越狱 编辑 风格 人脸 动作 姿态 场景 理解 描述 字幕 "
    "音乐 音频 超分辨率 去噪 流匹配 一致性 自回归 状态空间 线性 循环 卷积 变换器 路由 缓存 服务"
)
ZH_FRAMES = (
    "本文提出一种{a}{b}方法，用于{c}{d}。",
    "我们构建了面向{a}的{b}框架，显著改善了{c}与{d}。",
    "该方法结合{a}和{b}，在{c}任务上取得领先的{d}效果。",
    "实验表明，{a}{b}在多个{c}基准上优于现有{d}方法。",
    "作者分析了{a}对{b}的影响，并给出{c}{d}的改进方案。",
)
FIRST = _words(
    "Wei Lei Ming Hui Jing Yan Chen Tao Ana Ben Carla Dmitri Elif Farid Grace Hana Ivan Jonas "
    "Kenji Laura Mateo Nadia Omar Priya Quinn Rosa Sven Tomas Uma Victor Wen Yuki Zara"
)
LAST = _words(
    "Wang Li Zhang Liu Chen Yang Huang Zhao Wu Zhou Xu Sun Ma Zhu Hu Guo Lin Smith Garcia Mueller "
    "Rossi Novak Kowalski Tanaka Sato Kim Park Nguyen Silva Costa Ivanova Haddad Okafor"
)
TAGS = _words(
    "language-models vision multimodal diffusion agents reasoning alignment efficiency "
    "long-context retrieval robotics audio 3d video benchmarks safety code math"
)


def _zipf(words: list[str], s: float = 0.9) -> tuple[list[str], list[float]]:
    return words, [1.0 / (rank + 1) ** s for rank in range(len(words))]


@dataclass(frozen=True, slots=True)
class Synthetic:
    """One generated paper: what the file holds, for building queries."""

    arxiv_id: str
    date: dt.date
    title_en: str
    title_zh: str
    name: str


class Generator:
    """Deterministic bilingual papers from the word lists above."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = random.Random(seed)
        shuffled = list(EN_NOUN)
        random.Random(seed + 1).shuffle(shuffled)
        self.nouns = _zipf(shuffled)
        zh = list(ZH_TERMS)
        random.Random(seed + 2).shuffle(zh)
        self.zh = _zipf(zh)

    def noun(self) -> str:
        return self.rng.choices(self.nouns[0], self.nouns[1])[0]

    def zh_term(self) -> str:
        return self.rng.choices(self.zh[0], self.zh[1])[0]

    def name(self) -> str:
        parts = self.rng.sample(SYLLABLES, self.rng.randint(2, 3))
        return "".join(parts).capitalize() + self.rng.choice(("", "", "-2", "X", "GPT", "Net"))

    def paper(self, arxiv_id: str, day: dt.date) -> tuple[Synthetic, str]:
        r = self.rng
        name = self.name()
        adj = r.choice(EN_ADJ)
        title_en = (
            f"{name}: {adj.capitalize()} {self.noun().capitalize()} "
            f"{self.noun().capitalize()} for {self.noun().capitalize()} {self.noun().capitalize()}"
        )
        title_zh = f"{name}：面向{self.zh_term()}{self.zh_term()}的{self.zh_term()}{self.zh_term()}"
        sentences = []
        for _ in range(r.randint(3, 5)):
            sentences.append(
                f"{name} {r.choice(EN_VERB)} {r.choice(EN_ADJ)} {self.noun()} {self.noun()} "
                f"{r.choice(EN_FILLER)} using {self.noun()} {self.noun()} and {self.noun()}."
            )
        summary_en = " ".join(sentences)
        summary_zh = "".join(
            r.choice(ZH_FRAMES).format(
                a=self.zh_term(), b=self.zh_term(), c=self.zh_term(), d=self.zh_term()
            )
            for _ in range(r.randint(3, 5))
        )
        authors = ", ".join(f"{r.choice(FIRST)} {r.choice(LAST)}" for _ in range(r.randint(1, 6)))
        tags = ", ".join(r.sample(TAGS, r.randint(1, 3)))
        text = (
            "---\n"
            f"arxiv_id: '{arxiv_id}'\n"
            f"title_en: '{title_en}'\n"
            f"title_zh: '{title_zh}'\n"
            f"date: {day.isoformat()}\n"
            "status: ready\n"
            f"score: {int(r.paretovariate(1.2)) - 1}\n"
            f"authors: [{authors}]\n"
            "links: {}\n"
            f"tags: [{tags}]\n"
            f"summary_en: >-\n  {summary_en}\n"
            f"summary_zh: >-\n  {summary_zh}\n"
            "---\n"
        )
        return Synthetic(arxiv_id, day, title_en, title_zh, name), text


def make_content(root: Path, n: int, *, seed: int = 0, write: bool = True) -> list[Synthetic]:
    """Write the sample papers plus ``n`` synthetic ones (2021-2024) under ``root/papers``.

    ``write=False`` only describes what the same call writes (to build queries over content
    made earlier)."""
    papers_dir = root / "papers"
    if write and SAMPLES.is_dir():
        shutil.copytree(SAMPLES, papers_dir, dirs_exist_ok=True)
    gen = Generator(seed)
    start = dt.date(2021, 1, 4)
    span = (dt.date(2024, 12, 27) - start).days
    per_month: dict[str, int] = {}
    made_dirs: set[Path] = set()
    out: list[Synthetic] = []
    for i in range(n):
        day = start + dt.timedelta(days=(i * span) // max(n, 1))
        yymm = f"{day:%y%m}"
        seq = per_month.get(yymm, 20000)  # above the samples' numbers, so ids never collide
        per_month[yymm] = seq + 1
        arxiv_id = f"{yymm}.{seq:05d}"
        synthetic, text = gen.paper(arxiv_id, day)
        out.append(synthetic)
        if not write:
            continue
        folder = papers_dir / str(day.year)
        if folder not in made_dirs:
            folder.mkdir(parents=True, exist_ok=True)
            made_dirs.add(folder)
        (folder / f"{arxiv_id}.md").write_text(text, encoding="utf-8")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_env(root: Path, **settings: str) -> dict[str, str]:
    """The environment of a `digestbot run` over ``root/content`` (SQLite, no bot unless
    ``settings`` give a token): ``settings`` are DIGESTBOT_ variables without the prefix."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTBOT_TELEGRAM")}
    env.update(
        DIGESTBOT_CONTENT_DIR=str(root / "content"),
        DIGESTBOT_DATABASE_URL=f"sqlite:///{root / 'digestbot.db'}",
        DIGESTBOT_OUTBOX_DIR=str(root / "outbox"),
        DIGESTBOT_HTTP__PORT=str(free_port()),
    )
    env.update({f"DIGESTBOT_{k}": v for k, v in settings.items()})
    return env


@contextlib.contextmanager
def digestbot_run(env: dict[str, str]) -> Iterator[tuple[int, float]]:
    """`digestbot run --no-scheduler` for the block: its pid and the seconds from launch to
    its "digestbot ready" line; SIGTERM at the end."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "digestbot", "run", "--no-scheduler"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("digestbot ready"):
                break
        else:
            raise RuntimeError("digestbot run exited before it was ready")
        yield proc.pid, time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
