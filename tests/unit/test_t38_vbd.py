"""The fax machine's fallback pieces, without sockets: libspandsp's audio fax terminal carries a page through G.711
both ways (voice-band data), the T.38 terminals carry one over UDPTL with 10 % of the datagrams lost (redundancy
fills the gaps), and a stream's playout plays a 30 ms packet once after a codec or ptime change."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from emulator.engines.mipt.fax_pages import pdf_to_tiff
from emulator.engines.mipt.playout import Playout
from emulator.protocols.media import codecs
from emulator.protocols.media.t38_ifp import is_final
from emulator.protocols.media.t38_terminal import AudioFaxTerminal, T38Terminal, tiff_pages
from emulator.protocols.media.udptl import UdptlReceiver, UdptlSender
from testkit.spandsp_fax import make_page, make_pdf, same_page


def test_a_page_over_g711_with_the_audio_terminals(tmp_path: Path) -> None:
    page = make_page(tmp_path / "page.tif")
    sender, receiver = AudioFaxTerminal(True, ident="sender"), AudioFaxTerminal(False)
    sender.send_file(page)
    receiver.receive_file(tmp_path / "in.tif")
    fmt = codecs.by_encoding("PCMA")
    assert fmt is not None
    enc_a, dec_a, enc_b, dec_b = (codecs.encoder_for(fmt), codecs.decoder_for(fmt), codecs.encoder_for(fmt),
                                  codecs.decoder_for(fmt))
    for _ in range(3000):  # 60 s of 20 ms frames at most (a page takes about 23)
        receiver.receive(dec_a.decode(enc_a.encode(sender.transmit(160))))
        sender.receive(dec_b.decode(enc_b.encode(receiver.transmit(160))))
        if sender.done and receiver.done:
            break
    assert (sender.result, receiver.result) == (0, 0), (sender.result_text(), receiver.result_text())
    assert sender.pages == 1 and tiff_pages(tmp_path / "in.tif") == 1
    assert same_page(page, tmp_path / "in.tif")


@pytest.mark.parametrize("source", ["tiff", "pdf"])
def test_a_page_over_udptl_with_loss(tmp_path: Path, source: str) -> None:
    if source == "pdf":  # a PDF's page as the fax machine renders it
        page = tmp_path / "letter.tif"
        assert pdf_to_tiff(make_pdf(tmp_path / "letter.pdf"), page) == 1
    else:
        page = make_page(tmp_path / "page.tif", stripes=8)
    rng = random.Random(7)
    wires: tuple[list[bytes], list[bytes]] = ([], [])
    senders = (UdptlSender(redundancy=3, final_redundancy=1), UdptlSender(redundancy=3, final_redundancy=1))
    receivers = (UdptlReceiver(), UdptlReceiver())

    def transmit(side: int):  # type: ignore[no-untyped-def]
        def send(ifp: bytes, count: int) -> None:
            wires[side].extend(d for d in senders[side].send(ifp, final=is_final(ifp), repeat=count)
                               if rng.random() > 0.1)
        return send

    a = T38Terminal(True, transmit(0), paced=False)
    b = T38Terminal(False, transmit(1), paced=False)
    a.send_file(page)
    b.receive_file(tmp_path / "in.tif")
    for _ in range(2000):
        a.advance(160)
        b.advance(160)
        for side, term in ((0, b), (1, a)):
            for datagram in wires[side]:
                for seq, ifp in receivers[1 - side].receive(datagram):
                    term.feed(seq, ifp)
            wires[side].clear()
        if a.done and b.done:
            break
    assert (a.result, b.result) == (0, 0)
    assert receivers[1].recovered > 0  # the loss happened, and redundancy made up for it
    assert same_page(page, tmp_path / "in.tif")


def test_after_a_ptime_change_each_packet_is_played_once() -> None:
    fmt = codecs.by_encoding("PCMU")
    assert fmt is not None
    playout = Playout(fmt, 20)
    playout.set_format(fmt, 30)
    heard: list[bytes] = []
    playout.pcm_sink = heard.append
    for i in range(50):  # 1.5 s of 30 ms packets arriving on time
        playout.arrivals.append((i * 0.03, i * 240, bytes(240)))
        playout.process(i * 0.03)
    playout.process(2.0)
    played = sum(map(len, heard)) // 2
    assert 240 * 45 <= played <= 240 * 50, played  # not the 50 % more the 20 ms step used to make

