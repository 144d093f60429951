"""Every reply the bot writes, in English and Indonesian: one catalogue, picked by the Telegram
user's ``language_code`` (Indonesian for ``id`` and ``ms``, English otherwise).

Handlers hold no reply text of their own: they call ``say(lang, key, **values)``. The core speaks
English; what it says is translated here by its structure, never by editing its strings: a
refusal by its code (``ArticleRejected.reason``), an abstention by its kind
(``Answer.reason_kind``) and the words it names (``Answer.missing``). A kind not known here is
shown as the core wrote it.
"""

from __future__ import annotations

from typing import Literal

from telegram import User

from fetch import readable_size
from retrieval.citations import named_words
from retrieval.errors import ArticleRejected, DuplicateArticle
from retrieval.types import Answer

Lang = Literal["en", "id"]

_EN: dict[str, str] = {
    "help": (
        "I answer questions about the news articles in my library by quoting the sentences that "
        "say so, each with its source.\n\n"
        "• In a private chat, just write your question.\n"
        "• In a group: /ask your question, reply to one of my answers to follow up, or mention me.\n"
        "• Anywhere: type @{bot} and your question to share an answer.\n\n"
        "/sources lists recent articles, /article REF shows one.\n"
        "Admins: /add a URL, pasted text (a first line without a final period is its title) or a "
        ".txt/.md/.html file; /delete REF [REF ...]; /stats; /follow an RSS or Atom feed, /feeds, "
        "/unfollow."
    ),
    "unknown_command": "I don't know {command}. /help says what I can do.",
    "untitled": "(untitled)",
    "sources_empty": "The library is empty. Admins can /add articles.",
    "sources_header": "Recent articles",
    "sources_dated": "Articles of {period}",
    "sources_no_date": "No article is dated {period}.",
    "sources_usage": (
        "Usage: /sources, or /sources with a day, a month or a year "
        "(2019-09-18, 2019-09, September 2019, yesterday, this week)"
    ),
    "also_in": "also in: {names}",
    "article_usage": "Usage: /article REF (refs are shown in /sources and under answers)",
    "article_details": "{lang}, {sentences}",
    "no_article": "No article with ref {ref}.",
    "ask_something": "Ask me something about the articles, e.g. /ask what did Xi's letter say",
    "too_long": "That question is {length} characters long; please keep it under {limit}.",
    "cant_ask": "I can't answer that: {reason}.",
    "cant_answer": "I can't answer that from the library: {reason}.",
    "reason_empty": "the library has no articles yet; admins can /add them",
    "reason_no_words": "the question has no word or figure to look for",
    "reason_not_text": "the question holds characters that are not text",
    "reason_not_mentioned": "nothing in the library mentions {words}",
    "answer_lacks": "Nothing in the library mentions {words}; the closest it holds:",
    "answer_unsure": "The library may not answer this; the closest it holds:",
    "reason_not_close": "nothing in the library answers this closely enough to quote",
    "inline_none_title": "Nothing in the library answers this",
    "inline_none_text": "{question}: nothing in the library answers this ({reason}).",
    "add_usage": (
        "To add an article: /add followed by a URL or the pasted article text (a first line without "
        "a final period is its title), or send a .txt, .md or .html file with the caption /add (or "
        "reply /add to such a file)."
    ),
    "bare_link": "To add a web page, send the whole link: /add https://{link}",
    "stored": "Stored {ref}: {title} ({lang}, {sentences}). Ask away!",
    "not_added": "Not added: {reason}.",
    "delete_usage": "Usage: /delete REF [REF ...] (refs are shown under every answer and in /sources)",
    "deleted": "Deleted {ref}: {title}.",
    "not_deleted": "Not deleted: no article with ref {ref}.",
    "stats": "{articles}, {sentences}, {chunks}; languages: {languages}; database {size}.",
    "none": "none",
    "only_admins": "Sorry, only admins can {action}.",
    "only_admins_private": (
        "Sorry, only admins can {action} (your user id is {user_id}, for NEWSBOT_ADMIN_IDS)."
    ),
    "action_add": "add articles",
    "action_delete": "delete articles",
    "action_stats": "see library statistics",
    "action_follow": "follow feeds",
    "action_unfollow": "unfollow feeds",
    "action_feeds": "see the followed feeds",
    "follow_usage": (
        "Usage: /follow URL [MINUTES]: an RSS or Atom feed; its new articles are added every "
        "{minutes} minutes (or every MINUTES)."
    ),
    "followed": (
        "Following {ref}: {title} ({items} now). Its new articles are added within a minute, "
        "then every {minutes} minutes."
    ),
    "already_followed": "Already following that feed as {ref}: {title}.",
    "not_followed": "Not followed: {reason}.",
    "unfollow_usage": "Usage: /unfollow URL or ID (/feeds lists them)",
    "unfollowed": "Stopped following {ref}: {title}. The {articles} it brought stay in the library.",
    "no_feed": "No followed feed is {key}. /feeds lists them.",
    "feeds_empty": "No feeds are followed. Admins can /follow URL.",
    "feeds_header": "Followed feeds",
    "feed_line": "{ref} {title}: {articles}, every {minutes} min; last read {success}",
    "feed_error": "last error {when} ({failures} in a row): {error}",
    "never": "never",
    "feed_untitled": "(no title)",
    "refused": "{error}.",
    "apology": "Sorry, something went wrong on my side while answering. Please try again in a moment.",
    "library_unavailable": "The library is unavailable right now; nothing was changed. "
    "The admins can see why in the bot's log; please try again later.",
}

_ID: dict[str, str] = {
    "help": (
        "Saya menjawab pertanyaan tentang artikel berita di perpustakaan saya dengan mengutip "
        "kalimat yang menyatakannya, lengkap dengan sumbernya.\n\n"
        "• Di obrolan pribadi, tulis saja pertanyaan Anda.\n"
        "• Di grup: /ask pertanyaan Anda, balas jawaban saya untuk bertanya lanjut, atau sebut saya.\n"
        "• Di mana saja: ketik @{bot} lalu pertanyaan Anda untuk membagikan jawaban.\n\n"
        "/sources menampilkan artikel terbaru, /article REF menampilkan satu artikel.\n"
        "Admin: /add URL, teks (baris pertama tanpa titik di akhir menjadi judulnya), atau berkas "
        ".txt/.md/.html; /delete REF [REF ...]; /stats; /follow feed RSS atau Atom, /feeds, "
        "/unfollow."
    ),
    "unknown_command": "Saya tidak mengenal {command}. /help menjelaskan apa yang bisa saya lakukan.",
    "untitled": "(tanpa judul)",
    "sources_empty": "Perpustakaan masih kosong. Admin dapat menambahkan artikel dengan /add.",
    "sources_header": "Artikel terbaru",
    "sources_dated": "Artikel tanggal {period}",
    "sources_no_date": "Tidak ada artikel bertanggal {period}.",
    "sources_usage": (
        "Cara pakai: /sources, atau /sources dengan tanggal, bulan atau tahun "
        "(2019-09-18, 2019-09, September 2019, kemarin, minggu ini)"
    ),
    "also_in": "juga di: {names}",
    "article_usage": "Cara pakai: /article REF (REF tercantum di /sources dan di bawah jawaban)",
    "article_details": "{lang}, {sentences}",
    "no_article": "Tidak ada artikel dengan ref {ref}.",
    "ask_something": "Tanyakan sesuatu tentang artikel-artikelnya, misalnya /ask apa isi surat Xi",
    "too_long": "Pertanyaan itu panjangnya {length} karakter; mohon buat kurang dari {limit}.",
    "cant_ask": "Saya tidak bisa menjawabnya: {reason}.",
    "cant_answer": "Saya tidak bisa menjawabnya dari perpustakaan: {reason}.",
    "reason_empty": "perpustakaan belum berisi artikel; admin dapat menambahkannya dengan /add",
    "reason_no_words": "pertanyaannya tidak berisi kata atau angka untuk dicari",
    "reason_not_text": "pertanyaannya berisi karakter yang bukan teks",
    "reason_not_mentioned": "tidak ada artikel di perpustakaan yang menyebut {words}",
    "answer_lacks": "Tidak ada artikel di perpustakaan yang menyebut {words}; yang paling dekat:",
    "answer_unsure": "Perpustakaan mungkin tidak menjawab ini; yang paling dekat:",
    "reason_not_close": "tidak ada kalimat di perpustakaan yang menjawabnya cukup dekat untuk dikutip",
    "inline_none_title": "Tidak ada yang menjawab ini di perpustakaan",
    "inline_none_text": "{question}: tidak ada yang menjawab ini di perpustakaan ({reason}).",
    "add_usage": (
        "Untuk menambahkan artikel: /add lalu URL atau teks artikel yang ditempel (baris pertama "
        "tanpa titik di akhir menjadi judulnya), atau kirim berkas .txt, .md atau .html dengan "
        "keterangan /add (atau balas berkas itu dengan /add)."
    ),
    "bare_link": "Untuk menambahkan halaman web, kirim tautan lengkapnya: /add https://{link}",
    "stored": "Tersimpan {ref}: {title} ({lang}, {sentences}). Silakan bertanya!",
    "not_added": "Tidak ditambahkan: {reason}.",
    "delete_usage": (
        "Cara pakai: /delete REF [REF ...] (REF tercantum di bawah setiap jawaban dan di /sources)"
    ),
    "deleted": "Terhapus {ref}: {title}.",
    "not_deleted": "Tidak dihapus: tidak ada artikel dengan ref {ref}.",
    "stats": "{articles}, {sentences}, {chunks}; bahasa: {languages}; basis data {size}.",
    "none": "tidak ada",
    "only_admins": "Maaf, hanya admin yang dapat {action}.",
    "only_admins_private": (
        "Maaf, hanya admin yang dapat {action} (user id Anda {user_id}, untuk NEWSBOT_ADMIN_IDS)."
    ),
    "action_add": "menambahkan artikel",
    "action_delete": "menghapus artikel",
    "action_stats": "melihat statistik perpustakaan",
    "action_follow": "mengikuti feed",
    "action_unfollow": "berhenti mengikuti feed",
    "action_feeds": "melihat feed yang diikuti",
    "follow_usage": (
        "Cara pakai: /follow URL [MENIT]: feed RSS atau Atom; artikel barunya ditambahkan setiap "
        "{minutes} menit (atau setiap MENIT)."
    ),
    "followed": (
        "Mengikuti {ref}: {title} ({items} saat ini). Artikel barunya ditambahkan dalam satu menit, "
        "lalu setiap {minutes} menit."
    ),
    "already_followed": "Feed itu sudah diikuti sebagai {ref}: {title}.",
    "not_followed": "Tidak diikuti: {reason}.",
    "unfollow_usage": "Cara pakai: /unfollow URL atau ID (/feeds menampilkannya)",
    "unfollowed": "Berhenti mengikuti {ref}: {title}. {articles} darinya tetap di perpustakaan.",
    "no_feed": "Tidak ada feed yang diikuti dengan {key}. /feeds menampilkannya.",
    "feeds_empty": "Belum ada feed yang diikuti. Admin dapat memakai /follow URL.",
    "feeds_header": "Feed yang diikuti",
    "feed_line": "{ref} {title}: {articles}, setiap {minutes} menit; terakhir dibaca {success}",
    "feed_error": "galat terakhir {when} ({failures} kali berturut-turut): {error}",
    "never": "belum pernah",
    "feed_untitled": "(tanpa judul)",
    "refused": "Tidak bisa: {error}.",
    "apology": "Maaf, ada yang salah di pihak saya saat menjawab. Silakan coba lagi sebentar lagi.",
    "library_unavailable": "Perpustakaan sedang tidak dapat digunakan; tidak ada yang berubah. "
    "Admin dapat melihat penyebabnya di log bot; silakan coba lagi nanti.",
}

CATALOGUE: dict[Lang, dict[str, str]] = {"en": _EN, "id": _ID}

# Why an article was not added, by the refusal's code. English shows the core's own message
# instead (it names the file, host or size).
_ID_REJECTIONS = {
    "empty": "teks atau berkasnya kosong",
    "binary": "isinya bukan teks; kirim berkas .txt, .md atau .html",
    "too_large": "terlalu besar; batasnya {limit}",
    "duplicate": "artikel ini sudah ada di perpustakaan sebagai {ref}",
    "not_article": "tidak ada teks artikel di situ (setidaknya beberapa kalimat)",
    "unreachable": "halaman itu tidak dapat diambil; coba lagi nanti, atau tempel teksnya",
    "private_address": "tautan itu mengarah ke alamat jaringan lokal atau privat",
    "bad_input": (
        "itu tidak bisa dibaca sebagai artikel: kirim tautan http(s), teks, atau berkas .txt, .md "
        "atau .html dalam UTF-8"
    ),
    "refused": "basis data menolak artikel ini",
}

# Why a feed was not followed, by the refusal's code (``FeedRejected`` or the fetch's
# ``ArticleRejected``); English shows the core's own message (it names the link).
_ID_FEED_REJECTIONS = {
    "web_page": "itu halaman web, bukan feed RSS atau Atom",
    "not_feed": "isinya bukan feed RSS atau Atom",
    "bad_input": "kirim tautan http(s) ke sebuah feed RSS atau Atom (paling sering sekali semenit)",
    "empty": "feed itu kosong",
    "unreachable": "feed itu tidak dapat diambil; coba lagi nanti",
    "private_address": "tautan itu mengarah ke alamat jaringan lokal atau privat",
    "too_large": "feed itu terlalu besar; batasnya {limit}",
}

_NOUNS: dict[Lang, dict[str, tuple[str, str]]] = {
    "en": {
        "article": ("article", "articles"),
        "sentence": ("sentence", "sentences"),
        "chunk": ("chunk", "chunks"),
        "item": ("item", "items"),
    },
    "id": {
        "article": ("artikel", "artikel"),
        "sentence": ("kalimat", "kalimat"),
        "chunk": ("potongan", "potongan"),
        "item": ("item", "item"),
    },
}


def language(user: User | None) -> Lang:
    code = (user.language_code or "") if user is not None else ""
    return "id" if code.lower().startswith(("id", "ms")) else "en"


def say(lang: Lang, key: str, /, **values: object) -> str:
    return CATALOGUE[lang][key].format(**values)


def number(lang: Lang, n: int) -> str:
    """1,234 in English, 1.234 in Indonesian."""
    return f"{n:,}" if lang == "en" else f"{n:,}".replace(",", ".")


def count(lang: Lang, n: int, noun: str) -> str:
    """1 sentence, 1,234 articles; 1.234 artikel."""
    one, many = _NOUNS[lang][noun]
    return f"{number(lang, n)} {one if n == 1 else many}"


def untitled(lang: Lang, title: str | None) -> str:
    return title or say(lang, "untitled")


def abstention(lang: Lang, answer: Answer) -> str:
    """Why ``answer`` quotes nothing, in ``lang`` (without the "I can't answer" frame)."""
    kind = answer.reason_kind
    if kind == "empty_library":
        return say(lang, "reason_empty")
    if kind == "no_content":
        return say(lang, "reason_no_words")
    if kind == "not_mentioned" and answer.missing:
        return say(lang, "reason_not_mentioned", words=named_words(answer.missing))
    if kind == "not_close_enough":
        return say(lang, "reason_not_close")
    return answer.reason or ""


def caveat(lang: Lang, answer: Answer) -> str | None:
    """What an answer says before its quotes when they may not answer the question: the names
    of the question the library never mentions (``Answer.missing``), or that the answer cleared
    the abstention rule narrowly (``Answer.tentative``); None for a plain answer."""
    if answer.caveat == "missing":
        return say(lang, "answer_lacks", words=named_words(answer.missing))
    return say(lang, "answer_unsure") if answer.caveat == "unsure" else None


def rejection(lang: Lang, error: ArticleRejected, *, max_upload_bytes: int) -> str:
    """ "Not added: …" for an article the core refused."""
    if lang == "en":
        return say(lang, "not_added", reason=error)
    if isinstance(error, DuplicateArticle):
        reason = _ID_REJECTIONS["duplicate"].format(ref=error.existing_ref)
    elif error.reason in _ID_REJECTIONS and error.reason != "duplicate":
        reason = _ID_REJECTIONS[error.reason].format(limit=readable_size(max_upload_bytes))
    else:  # a code not known here, or a duplicate without its ref: as the core says it
        reason = str(error)
    return say(lang, "not_added", reason=reason)


def refused(lang: Lang, error: Exception) -> str:
    """Any other refusal the core explains in English (shown as it is, in ``lang``'s frame)."""
    text = str(error)
    return say(lang, "refused", error=f"{text[:1].upper()}{text[1:]}" if lang == "en" else text)


def feed_refusal(lang: Lang, reason: str, message: str, links: tuple[str, ...], *, max_bytes: int) -> str:
    """ "Not followed: …" for a URL that gave no feed (``reason``: the refusal's code)."""
    if lang == "en" or reason not in _ID_FEED_REJECTIONS:
        return say(lang, "not_followed", reason=message)
    text = _ID_FEED_REJECTIONS[reason].format(limit=readable_size(max_bytes))
    if links:
        text += "; feed-nya: " + ", ".join(links)
    return say(lang, "not_followed", reason=text)
