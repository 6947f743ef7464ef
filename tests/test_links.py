"""Links in a paper's text: which URL becomes links.code / links.project / links.hf."""

from __future__ import annotations

from digestbot.sources.links import take_links


def test_first_repository_is_code_and_pages_beat_other_domains() -> None:
    found = take_links(
        "模型权重放在 https://huggingface.co/example/tiny-model 供下载，"
        "这一句足够长，所以只删掉其中的链接。"
        "代码在 https://github.com/example/first/tree/main/src 。"
        "另一个仓库 https://github.com/example/second 也有。"
        "演示页面：https://example.github.io/demo/。\n\n"
        "它的论文页 https://huggingface.co/papers/2404.00001 详细讨论了与 "
        "https://arxiv.org/abs/2404.00002 密切相关的另外一组实验结果。"
        "短句见 https://example.org/x 。"
    )
    assert found.links == {
        "code": "https://github.com/example/first",
        "project": "https://example.github.io/demo/",
        "hf": "https://huggingface.co/papers/2404.00001",
    }
    assert found.text == (
        "模型权重放在供下载，这一句足够长，所以只删掉其中的链接。\n\n"
        "它的论文页详细讨论了与 https://arxiv.org/abs/2404.00002 密切相关的另外一组实验结果。"
    )


def test_other_domain_is_the_project_when_there_is_no_pages_site() -> None:
    found = take_links(
        "项目主页见 <https://www.example.org/proj>；数据来源：https://huggingface.co/papers"
    )
    assert found.links == {"project": "https://www.example.org/proj"}
    assert found.text == ""


def test_text_without_links_is_only_whitespace_normalised() -> None:
    found = take_links("没有 链接 的 摘要。\n\n 第二段。 ")
    assert found == take_links("没有链接的摘要。\n\n第二段。")
    assert found.links == {} and found.text == "没有链接的摘要。\n\n第二段。"
