"""Written test articles for dates and syndicated copies: one flood story as Kompas wrote it and
as Tempo re-published it (another outlet's header, a changed first line), a quake's death toll
reported on two days, and a market story on three days."""

from __future__ import annotations

FLOOD_BODY = (
    "Air Sungai Ciliwung meluap setelah hujan deras mengguyur kawasan Bogor sejak Selasa malam.\n\n"
    "Kepala Badan Penanggulangan Bencana Daerah DKI Jakarta mengatakan ketinggian air mencapai 150 "
    "sentimeter di beberapa titik permukiman warga.\n\n"
    "Sebanyak 1.200 warga mengungsi ke masjid, balai warga dan sekolah terdekat sejak pagi hari.\n\n"
    "Petugas gabungan mendirikan dapur umum dan posko kesehatan di tiga lokasi pengungsian.\n\n"
    "Perahu karet dikerahkan untuk mengevakuasi warga lanjut usia, anak-anak dan ibu hamil.\n\n"
    "Listrik di sebagian wilayah Cawang dipadamkan sementara untuk mencegah korban tersengat arus.\n\n"
    "Warga diimbau tetap waspada karena hujan diperkirakan masih turun hingga akhir pekan.\n\n"
    "Pemerintah kota berjanji mempercepat normalisasi sungai agar banjir serupa tidak terulang.\n\n"
    "Wali kota meninjau lokasi pengungsian bersama camat dan lurah pada sore hari.\n\n"
    "Ia meminta petugas memastikan kebutuhan makanan, selimut dan obat-obatan tercukupi.\n\n"
    "Dinas Sumber Daya Air menyiagakan pompa mobile di sejumlah titik rawan genangan.\n\n"
    "Banjir serupa pernah melanda kawasan ini pada awal tahun dan merendam dua kelurahan."
)
FLOOD_KOMPAS = (
    "Banjir Rendam Ratusan Rumah di Cawang\n\n"
    "JAKARTA, KOMPAS.com - Banjir merendam ratusan rumah di Kelurahan Cawang, Jakarta Timur, "
    "Rabu (18/9/2019).\n\n" + FLOOD_BODY
)
FLOOD_TEMPO = (
    "Ratusan Rumah di Cawang Terendam Banjir\n\n"
    "TEMPO.CO, Jakarta - Ratusan rumah warga Kelurahan Cawang terendam banjir pada Rabu "
    "(18/9/2019).\n\n" + FLOOD_BODY
)

QUAKE_EARLY = (
    "Gempa Mamuju Tewaskan 20 Orang\n\n"
    "Gempa magnitudo 6,2 mengguncang Kabupaten Mamuju, Sulawesi Barat, pada Rabu (18/9/2019) dini hari.\n\n"
    "Korban tewas akibat gempa Mamuju mencapai 20 orang, kata Badan Nasional Penanggulangan Bencana.\n\n"
    "Puluhan rumah, sebuah hotel dan kantor gubernur rusak berat akibat guncangan.\n\n"
    "Warga berlarian keluar rumah dan bertahan di tanah lapang hingga pagi."
)
QUAKE_LATE = (
    "Korban Gempa Mamuju Bertambah\n\n"
    "Tim SAR gabungan masih mencari warga yang tertimbun reruntuhan di Mamuju pada Sabtu (21/9/2019).\n\n"
    "Korban tewas akibat gempa Mamuju bertambah menjadi 35 orang, kata Badan Nasional "
    "Penanggulangan Bencana.\n\n"
    "Ribuan pengungsi membutuhkan tenda, selimut, makanan bayi dan air bersih.\n\n"
    "Bantuan dari Makassar tiba melalui jalur darat yang sempat tertutup longsor."
)

CHILI = [
    (
        "2019-09-10",
        "Harga Cabai Rawit Naik di Pasar Induk\n\n"
        "Harga cabai rawit merah di Pasar Induk Kramat Jati naik menjadi Rp 60.000 per kilogram.\n\n"
        "Pedagang menyebut pasokan dari Jawa Tengah berkurang karena kemarau panjang.\n\n"
        "Pembeli mengurangi belanja cabai dan beralih ke cabai kering.",
    ),
    (
        "2019-09-17",
        "Harga Cabai Rawit Mulai Turun\n\n"
        "Harga cabai rawit merah di Pasar Induk Kramat Jati turun menjadi Rp 45.000 per kilogram.\n\n"
        "Pasokan dari Jawa Timur mulai masuk setelah panen di Kediri dan Blitar.\n\n"
        "Pedagang berharap harga kembali normal menjelang akhir bulan.",
    ),
    (
        "2019-09-24",
        "Harga Cabai Rawit Kembali Normal\n\n"
        "Harga cabai rawit merah di Pasar Induk Kramat Jati kembali normal di Rp 30.000 per kilogram.\n\n"
        "Pasokan dari sentra produksi di Jawa dan Sumatera sudah lancar.\n\n"
        "Kementerian Perdagangan memantau harga agar tetap stabil hingga akhir tahun.",
    ),
]
