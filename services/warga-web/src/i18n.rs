//! Texts of the web UI in Bahasa Indonesia (first) and English.

/// (key, Bahasa Indonesia, English)
const TEXTS: &[(&str, &str, &str)] = &[
    ("nav.label", "Navigasi utama", "Main navigation"),
    ("nav.home", "Beranda", "Home"),
    ("nav.account", "Akun saya", "My account"),
    ("nav.departments", "Departemen", "Departments"),
    ("nav.officers", "Petugas", "Officers"),
    ("nav.signin", "Masuk", "Sign in"),
    ("nav.signup", "Daftar", "Sign up"),
    ("nav.signout", "Keluar", "Sign out"),
    ("footer", "layanan publik untuk warga", "public services for residents"),
    ("home.title", "Selamat datang di warga", "Welcome to warga"),
    (
        "home.intro",
        "Satu pintu untuk layanan kependudukan, laporan warga JagaWarga, dan BPJS Kesehatan.",
        "One door to population services, JagaWarga city reports, and BPJS Kesehatan.",
    ),
    ("signup.title", "Daftar akun warga", "Create a resident account"),
    ("signup.submit", "Daftar", "Sign up"),
    (
        "signup.done",
        "Pendaftaran berhasil. Silakan masuk.",
        "You are registered. Please sign in.",
    ),
    ("signout.done", "Anda telah keluar.", "You have signed out."),
    ("account.title", "Akun saya", "My account"),
    ("departments.title", "Departemen", "Departments"),
    ("departments.new", "Departemen baru", "New department"),
    (
        "departments.id_hint",
        "huruf kecil, angka, tanda hubung",
        "lowercase letters, digits, hyphens",
    ),
    ("departments.created", "Departemen dibuat", "Department created"),
    ("officers.title", "Petugas", "Officers"),
    ("officers.new", "Petugas baru", "New officer"),
    (
        "officers.created",
        "Petugas dibuat. Kata sandi sekali pakai (sampaikan dengan aman, hanya ditampilkan sekali):",
        "Officer created. One-time password (hand it over safely; shown only once):",
    ),
    ("field.username", "Nama pengguna", "Username"),
    ("field.display_name", "Nama lengkap", "Full name"),
    ("field.email", "Surel (opsional)", "E-mail (optional)"),
    (
        "field.password",
        "Kata sandi (minimal 10 karakter)",
        "Password (at least 10 characters)",
    ),
    ("field.roles", "Peran", "Roles"),
    ("field.department", "Departemen", "Department"),
    ("field.level", "Jenjang", "Level"),
    ("field.name", "Nama", "Name"),
    ("level.staff", "Staf", "Staff"),
    ("level.head", "Kepala", "Head"),
    ("level.top", "Pimpinan tertinggi", "Top authority"),
    ("action.create", "Buat", "Create"),
    ("error.title", "Terjadi masalah", "Something went wrong"),
    (
        "error.forbidden",
        "Halaman ini hanya untuk administrator.",
        "This page is for administrators only.",
    ),
    (
        "error.form",
        "Formulir kedaluwarsa. Silakan coba lagi.",
        "The form expired. Please try again.",
    ),
    (
        "error.signin",
        "Masuk gagal. Silakan coba lagi.",
        "Signing in failed. Please try again.",
    ),
    (
        "error.role",
        "Halaman ini bukan untuk peran Anda.",
        "This page is not for your role.",
    ),
    ("error.not_found", "Data tidak ditemukan.", "Not found."),
    ("error.choose", "pilih salah satu", "choose one"),
    ("nav.residents", "Penduduk", "Residents"),
    ("nav.report", "Lapor", "Report a problem"),
    ("report.use_location", "Gunakan lokasi saya", "Use my location"),
    ("report.location_wait", "Mencari lokasi…", "Finding your location…"),
    ("report.location_done", "Lokasi terisi.", "Location filled in."),
    (
        "report.location_failed",
        "Lokasi tidak tersedia; isi secara manual.",
        "Location unavailable; please type it.",
    ),
    ("nav.dashboard", "Dasbor laporan", "Reports dashboard"),
    (
        "dashboard.title",
        "Dasbor laporan JagaWarga",
        "JagaWarga reports dashboard",
    ),
    ("dashboard.from", "Dari tanggal", "From"),
    ("dashboard.to", "Sampai tanggal", "To"),
    ("dashboard.total", "Laporan masuk", "Reports filed"),
    ("dashboard.open", "Belum selesai", "Still open"),
    ("dashboard.escalated", "Dieskalasi", "Escalated"),
    ("dashboard.compliance", "Kepatuhan batas waktu", "Deadlines met"),
    (
        "dashboard.response",
        "Waktu tanggap (median / p90)",
        "Response time (median / p90)",
    ),
    (
        "dashboard.resolution",
        "Waktu penyelesaian (median / p90)",
        "Resolution time (median / p90)",
    ),
    (
        "dashboard.median_response",
        "Median waktu tanggap per dinas",
        "Median response time by department",
    ),
    (
        "dashboard.median_resolution",
        "Median waktu penyelesaian per dinas",
        "Median resolution time by department",
    ),
    ("dashboard.backlog", "Tunggakan", "Backlog"),
    ("dashboard.escalations", "Eskalasi", "Escalations"),
    ("dashboard.by_category", "Laporan per kategori", "Reports by category"),
    ("dashboard.by_status", "Laporan per status", "Reports by status"),
    (
        "dashboard.by_district",
        "Laporan per kecamatan (15 teratas)",
        "Reports by district (top 15)",
    ),
    ("dashboard.map", "Peta sebaran laporan", "Map of reports"),
    ("dashboard.csv", "Unduh data (CSV)", "Download the data (CSV)"),
    (
        "dashboard.weeks",
        "Perbandingan dinas per minggu",
        "Departments week by week",
    ),
    ("dashboard.week", "Minggu mulai", "Week of"),
    ("dashboard.filed", "Masuk", "Filed"),
    (
        "dashboard.filed_weekly",
        "Laporan masuk per minggu, per dinas",
        "Reports filed per week, by department",
    ),
    (
        "dashboard.compliance_weekly",
        "Kepatuhan batas waktu per minggu (%), per dinas",
        "Deadlines met per week (%), by department",
    ),
    ("nav.my_reports", "Laporan saya", "My reports"),
    ("nav.feed", "Laporan publik", "Public reports"),
    ("nav.queue", "Antrean dinas", "Department queue"),
    ("report.new", "Laporkan masalah kota", "Report a city problem"),
    (
        "report.new.intro",
        "Jalan rusak, got tersumbat, sampah liar, pohon berbahaya: laporan Anda diteruskan ke dinas yang bertanggung jawab.",
        "A broken road, a blocked drain, illegal dumping, a dangerous tree: your report goes to the department responsible.",
    ),
    ("report.what", "Masalahnya", "The problem"),
    ("report.category", "Kategori", "Category"),
    ("report.title", "Judul (5–120 karakter)", "Title (5–120 characters)"),
    (
        "report.description",
        "Uraian (10–5.000 karakter)",
        "Description (10–5,000 characters)",
    ),
    (
        "report.scrub_hint",
        "NIK, nomor telepon, surel dan nama Anda dihapus otomatis dari teks sebelum disimpan.",
        "NIKs, phone numbers, e-mail addresses and your name are removed from the text before it is stored.",
    ),
    ("report.where", "Lokasinya", "Where"),
    ("report.latitude", "Lintang (latitude)", "Latitude"),
    ("report.longitude", "Bujur (longitude)", "Longitude"),
    (
        "report.coordinates_hint",
        "Salin dari aplikasi peta di ponsel Anda (tekan lama pada titik lokasi).",
        "Copy them from the map app on your phone (long-press the spot).",
    ),
    ("report.photos", "Foto", "Photos"),
    (
        "report.photos_hint",
        "Foto JPEG, PNG atau WebP, opsional",
        "JPEG, PNG or WebP photos, optional",
    ),
    ("report.photo", "Foto", "Photo"),
    (
        "report.photo_department",
        "Foto hasil penyelesaian dari dinas",
        "The department's photo of the resolution",
    ),
    ("report.visibility", "Siapa yang dapat melihat", "Who can see it"),
    ("report.visibility.public", "Publik", "Public"),
    (
        "report.visibility.public_hint",
        "tampil di laporan publik, tanpa nama Anda",
        "shown among public reports, without your name",
    ),
    ("report.visibility.private", "Privat", "Private"),
    (
        "report.visibility.private_hint",
        "hanya Anda dan dinas terkait",
        "only you and the department",
    ),
    ("report.visibility.anonymous", "Anonim", "Anonymous"),
    (
        "report.visibility.anonymous_hint",
        "tidak tersimpan siapa pelapornya; Anda mengikuti dengan kode tanda terima",
        "nothing stored says who reported it; you follow it with a receipt code",
    ),
    ("report.send", "Kirim laporan", "Send the report"),
    (
        "report.submitted",
        "Laporan terkirim dan diteruskan ke dinas terkait.",
        "Report sent to the department responsible.",
    ),
    ("report.done", "Tersimpan.", "Saved."),
    (
        "report.error.coordinate",
        "isi dengan angka desimal, mis. -6.1862",
        "a decimal number, e.g. -6.1862",
    ),
    ("report.error.action", "Tindakan tidak dikenal.", "Unknown action."),
    ("report.supporters", "pendukung", "supporters"),
    ("report.escalated", "dieskalasi ke tingkat", "escalated to level"),
    ("report.timeline", "Riwayat", "Timeline"),
    ("report.internal", "internal", "internal"),
    ("report.upvote", "Dukung laporan ini", "Support this report"),
    ("report.unvote", "Batalkan dukungan", "Withdraw support"),
    ("report.answer", "Jawab dinas", "Answer the department"),
    (
        "report.answer_hint",
        "Jawaban Anda untuk pertanyaan dinas",
        "Your answer to the department's question",
    ),
    ("report.withdraw", "Tarik laporan", "Withdraw the report"),
    ("report.status.submitted", "Terkirim", "Submitted"),
    ("report.status.acknowledged", "Diverifikasi", "Verified"),
    ("report.status.in_progress", "Sedang dikerjakan", "In progress"),
    (
        "report.status.waiting_reporter",
        "Menunggu jawaban pelapor",
        "Waiting for the reporter",
    ),
    ("report.status.resolved", "Selesai", "Resolved"),
    ("report.status.rejected", "Ditolak", "Rejected"),
    ("report.status.withdrawn", "Ditarik pelapor", "Withdrawn"),
    (
        "report.status.rerouted",
        "Dialihkan ke dinas lain",
        "Sent to another department",
    ),
    ("report.status.edited", "Diubah pelapor", "Edited by the reporter"),
    ("report.status.escalated", "Dieskalasi", "Escalated"),
    (
        "report.status.reporter_replied",
        "Pelapor menjawab",
        "The reporter answered",
    ),
    (
        "report.status.sla_warning",
        "Peringatan batas waktu",
        "Deadline warning",
    ),
    ("receipt.title", "Laporan anonim terkirim", "Anonymous report sent"),
    (
        "receipt.sent",
        "Laporan Anda terkirim tanpa identitas.",
        "Your report was sent without your identity.",
    ),
    (
        "receipt.keep",
        "Simpan kode tanda terima ini untuk mengikuti laporan dan menjawab pertanyaan dinas:",
        "Keep this receipt code to follow the report and answer the department's questions:",
    ),
    (
        "receipt.once",
        "Kode ini hanya ditampilkan sekali dan tidak dapat dipulihkan: warga tidak menyimpannya.",
        "This code is shown only once and cannot be recovered: warga does not keep it.",
    ),
    ("receipt.follow", "Ikuti laporan anonim", "Follow an anonymous report"),
    ("receipt.code", "Kode tanda terima", "Receipt code"),
    ("reports.mine", "Laporan saya", "My reports"),
    (
        "reports.none",
        "Anda belum membuat laporan.",
        "You have not reported anything yet.",
    ),
    (
        "reports.anonymous_hint",
        "Laporan anonim tidak tercantum di sini.",
        "Anonymous reports are not listed here.",
    ),
    ("inbox.title", "Pemberitahuan", "Notifications"),
    ("inbox.empty", "Belum ada pemberitahuan.", "No notifications yet."),
    ("inbox.mark_read", "Tandai sudah dibaca", "Mark as read"),
    (
        "contact.title",
        "Kabar lewat SMS atau e-mail",
        "Updates by SMS or e-mail",
    ),
    (
        "contact.hint",
        "Kami kirim kabar setiap kali status laporan Anda berubah. Nomor dan alamat disimpan terenkripsi dan tidak pernah dipakai untuk laporan anonim; kosongkan lalu simpan untuk berhenti.",
        "We send word each time one of your reports changes status. Numbers and addresses are kept encrypted and never used for anonymous reports; empty them and save to stop.",
    ),
    ("contact.phone", "Nomor ponsel", "Mobile number"),
    ("contact.email", "E-mail", "E-mail"),
    ("contact.save", "Simpan", "Save"),
    ("contact.saved", "Tersimpan.", "Saved."),
    ("triage.title", "Tindak lanjut dinas", "Department action"),
    ("triage.action", "Tindakan", "Action"),
    ("triage.acknowledge", "Verifikasi", "Verify"),
    ("triage.start", "Mulai kerjakan", "Start work"),
    ("triage.resolve", "Selesaikan", "Resolve"),
    ("triage.reject", "Tolak", "Reject"),
    ("triage.ask_reporter", "Tanya pelapor", "Ask the reporter"),
    ("triage.comment", "Komentar", "Comment"),
    (
        "triage.not_ours",
        "Bukan kewenangan kami (alihkan)",
        "Not ours (send on)",
    ),
    (
        "triage.note",
        "Catatan (wajib untuk selesai, tolak, komentar, alihkan)",
        "Note (required to resolve, reject, comment, send on)",
    ),
    (
        "triage.internal",
        "Komentar internal (tidak terlihat pelapor)",
        "Internal comment (not shown to the reporter)",
    ),
    (
        "triage.department",
        "Dinas tujuan (untuk dialihkan)",
        "Department to send it to",
    ),
    (
        "triage.photo",
        "Foto hasil (saat menyelesaikan)",
        "Photo of the result (when resolving)",
    ),
    ("triage.submit", "Simpan tindakan", "Save the action"),
    ("feed.title", "Laporan publik", "Public reports"),
    ("feed.all", "Semua", "All"),
    ("feed.sort", "Urutkan", "Sort by"),
    ("feed.recent", "Terbaru", "Newest"),
    ("feed.upvotes", "Dukungan terbanyak", "Most supported"),
    ("feed.none", "Tidak ada laporan yang cocok.", "No report matches."),
    ("queue.title", "Antrean laporan", "Report queue"),
    (
        "queue.live",
        "Halaman ini diperbarui setiap 30 detik.",
        "This page refreshes every 30 seconds.",
    ),
    (
        "queue.empty",
        "Tidak ada laporan di antrean.",
        "No reports in the queue.",
    ),
    ("queue.alerts", "Peringatan dan eskalasi", "Warnings and escalations"),
    ("nav.stats", "Statistik", "Statistics"),
    ("nav.links", "Tautan akun", "Account links"),
    ("nav.sms", "Kotak SMS", "SMS outbox"),
    ("action.search", "Cari", "Search"),
    ("action.next", "Berikutnya", "Next"),
    ("action.show", "Tampilkan", "Show"),
    ("action.register", "Daftarkan", "Register"),
    ("action.check_nik", "Periksa NIK", "Check NIK"),
    ("action.load_regions", "Muat pilihan wilayah", "Load region choices"),
    ("residents.title", "Data penduduk", "Resident registry"),
    ("residents.new", "Daftarkan penduduk", "Register a resident"),
    (
        "residents.name",
        "Nama (awal kata, min. 3 huruf)",
        "Name (word beginnings, 3+ letters)",
    ),
    ("residents.by_nik", "Cari dengan NIK", "Find by NIK"),
    (
        "residents.no_nik",
        "Tidak ada penduduk dengan NIK ini.",
        "No resident has this NIK.",
    ),
    ("residents.all_regions", "Semua provinsi", "All provinces"),
    ("residents.results", "Hasil pencarian", "Results"),
    (
        "residents.none",
        "Tidak ada penduduk yang cocok.",
        "No resident matches.",
    ),
    ("residents.identity", "Identitas", "Identity"),
    ("residents.address", "Alamat", "Address"),
    ("residents.other", "Data lain", "Other details"),
    ("field.full_name", "Nama lengkap", "Full name"),
    ("field.birth_place", "Tempat lahir", "Place of birth"),
    ("field.birth_date", "Tanggal lahir", "Date of birth"),
    ("field.birth", "Tempat/tgl. lahir", "Born"),
    ("field.sex", "Jenis kelamin", "Sex"),
    ("field.address", "Alamat", "Address"),
    ("field.village", "Kelurahan/desa", "Village"),
    ("field.postal_code", "Kode pos (opsional)", "Postal code (optional)"),
    ("field.province", "Provinsi", "Province"),
    ("field.regency", "Kabupaten/kota", "Regency/city"),
    ("field.district", "Kecamatan", "District"),
    ("field.place", "Wilayah", "Region"),
    ("field.religion", "Agama", "Religion"),
    ("field.marital_status", "Status perkawinan", "Marital status"),
    ("field.occupation", "Pekerjaan", "Occupation"),
    ("field.status", "Status", "Status"),
    ("field.registered_at", "Didaftarkan", "Registered"),
    ("sex.male", "Laki-laki", "Male"),
    ("sex.female", "Perempuan", "Female"),
    ("status.alive", "Hidup", "Living"),
    ("status.deceased", "Meninggal", "Deceased"),
    ("nik.valid", "NIK sah:", "Valid NIK:"),
    ("nik.born", "lahir", "born"),
    ("nik.issued_in", "diterbitkan di", "issued in"),
    ("nik.since", "sejak", "since"),
    ("nik.issued_in_label", "NIK diterbitkan di", "NIK issued in"),
    ("resident.registered", "Penduduk terdaftar.", "Resident registered."),
    ("resident.moved", "Kepindahan dicatat.", "Move recorded."),
    ("resident.died", "Kematian dicatat.", "Death recorded."),
    ("resident.history", "Riwayat alamat", "Address history"),
    ("resident.no_history", "Belum pernah pindah.", "No earlier address."),
    ("resident.moved_at", "Pindah pada", "Moved on"),
    ("resident.move", "Catat kepindahan", "Record a move"),
    ("resident.death", "Catat kematian", "Record death"),
    (
        "death.confirm",
        "Saya telah memeriksa akta/surat keterangan kematian.",
        "I have checked the death certificate.",
    ),
    (
        "death.confirm_needed",
        "Centang konfirmasi untuk mencatat kematian.",
        "Tick the confirmation to record the death.",
    ),
    ("links.title", "Permintaan tautan akun", "Account link requests"),
    (
        "links.intro",
        "Warga meminta akunnya ditautkan ke data penduduk. Periksa KTP sebelum menyetujui.",
        "Residents ask for their account to be linked to their record. Check the KTP before approving.",
    ),
    ("links.none", "Tidak ada permintaan.", "No requests."),
    (
        "error.fix_fields",
        "Periksa isian yang ditandai di bawah.",
        "Check the fields marked below.",
    ),
    ("forgot.title", "Lupa kata sandi", "Forgot password"),
    (
        "forgot.intro",
        "Masukkan nama pengguna Anda. Jika akun Anda memiliki nomor HP pemulihan, kami mengirim kode lewat SMS.",
        "Enter your username. If your account has a recovery phone number, we text you a code.",
    ),
    ("forgot.send", "Kirim kode", "Send a code"),
    (
        "forgot.sent",
        "Jika akun itu memiliki nomor HP pemulihan, kode telah dikirim lewat SMS (berlaku 10 menit).",
        "If that account has a recovery phone number, a code was texted to it (valid for 10 minutes).",
    ),
    ("forgot.code", "Kode dari SMS", "Code from the SMS"),
    (
        "forgot.wrong_code",
        "Kode salah atau kedaluwarsa; minta kode baru.",
        "The code is wrong or expired; ask for a new one.",
    ),
    ("forgot.link", "Lupa kata sandi?", "Forgot your password?"),
    (
        "forgot.done",
        "Kata sandi diganti. Silakan masuk dengan kata sandi baru.",
        "Password changed. Sign in with the new password.",
    ),
    ("phone.title", "Nomor HP pemulihan", "Recovery phone number"),
    (
        "phone.intro",
        "Untuk mengirim kode bila Anda lupa kata sandi. Kosongkan untuk menghapus.",
        "To text you a code if you forget your password. Leave empty to remove it.",
    ),
    ("phone.saved", "Nomor HP disimpan.", "Phone number saved."),
    (
        "phone.invalid",
        "Nomor HP harus nomor seluler Indonesia, mis. 0812 3456 7890.",
        "Must be an Indonesian mobile number, e.g. 0812 3456 7890.",
    ),
    ("action.save", "Simpan", "Save"),
    ("field.role", "Peran", "Role"),
    ("role.officer", "Petugas dinas", "Department officer"),
    ("role.registry_officer", "Petugas Dukcapil", "Registry officer"),
    ("officers.active", "Aktif", "Active"),
    ("officers.inactive", "Dinonaktifkan", "Disabled"),
    ("officers.disable", "Nonaktifkan", "Disable"),
    ("officers.enable", "Aktifkan", "Enable"),
    ("officers.reset_action", "Atur ulang sandi", "Reset password"),
    (
        "officers.disabled",
        "Akun dinonaktifkan; sesinya berakhir.",
        "Account disabled; its sessions ended.",
    ),
    ("officers.enabled", "Akun diaktifkan lagi.", "Account enabled again."),
    (
        "officers.reset",
        "Sandi sekali pakai (tampil sekali, wajib diganti saat masuk):",
        "One-time password (shown once, to be changed at sign-in):",
    ),
    (
        "officers.not_self",
        "administrator tidak dapat menonaktifkan akunnya sendiri",
        "administrators cannot disable themselves",
    ),
    ("password.title", "Ganti kata sandi", "Change password"),
    ("password.current", "Kata sandi saat ini", "Current password"),
    ("password.new", "Kata sandi baru", "New password"),
    ("password.confirm", "Ulangi kata sandi baru", "Repeat the new password"),
    ("password.change", "Simpan kata sandi", "Save password"),
    (
        "password.changed",
        "Kata sandi diganti. Perangkat lain perlu masuk lagi.",
        "Password changed. Other devices must sign in again.",
    ),
    (
        "password.differ",
        "Kedua kata sandi baru tidak sama.",
        "The two new passwords differ.",
    ),
    (
        "password.wrong_current",
        "Kata sandi saat ini salah.",
        "The current password is wrong.",
    ),
    (
        "password.weak",
        "Kata sandi baru tidak memenuhi aturan",
        "The new password breaks a rule",
    ),
    ("links.account_name", "Nama di akun", "Name on the account"),
    (
        "links.name_differs",
        "Nama di akun berbeda dengan nama di data kependudukan: periksa KTP sebelum menyetujui.",
        "The account's name differs from the resident's: check the KTP before approving.",
    ),
    ("links.matches", "Cocok dengan:", "Matches:"),
    (
        "links.no_match",
        "NIK dan tanggal lahir tidak cocok dengan penduduk hidup mana pun.",
        "The NIK and date of birth match no living resident.",
    ),
    ("links.reason", "Alasan (jika ditolak)", "Reason (when refusing)"),
    ("links.approve", "Setujui", "Approve"),
    ("links.refuse", "Tolak", "Refuse"),
    ("links.approved", "Akun ditautkan.", "Account linked."),
    ("links.refused", "Permintaan ditolak.", "Request refused."),
    ("link.title", "Data kependudukan saya", "My resident record"),
    (
        "link.intro",
        "Tautkan akun ke data kependudukan Anda. Petugas Dukcapil akan memeriksa KTP Anda.",
        "Link your account to your resident record. A registry officer will check your KTP.",
    ),
    ("link.ask", "Minta tautan", "Ask for the link"),
    ("link.asked", "Permintaan terkirim.", "Request sent."),
    (
        "link.pending",
        "Permintaan Anda menunggu pemeriksaan petugas.",
        "Your request waits for an officer.",
    ),
    (
        "link.linked",
        "Akun Anda tertaut ke data kependudukan:",
        "Your account is linked to:",
    ),
    (
        "link.rejected",
        "Permintaan terakhir ditolak",
        "Your last request was refused",
    ),
    ("stats.title", "Statistik penduduk", "Population statistics"),
    ("stats.total", "Jumlah penduduk hidup", "Living residents"),
    ("stats.indonesia", "Indonesia", "Indonesia"),
    ("stats.by_province", "Per provinsi", "By province"),
    ("stats.by_regency", "Per kabupaten/kota", "By regency/city"),
    ("stats.by_sex", "Per jenis kelamin", "By sex"),
    ("stats.by_age", "Per kelompok umur", "By age band"),
    ("stats.empty", "Belum ada data.", "No data yet."),
    (
        "stats.live",
        "Angka diperbarui dalam hitungan detik setelah setiap pendaftaran; halaman ini memuat ulang sendiri setiap 30 detik.",
        "Counts are updated within seconds of each registration; this page reloads itself every 30 seconds.",
    ),
    ("chart.as_table", "Lihat sebagai tabel", "Show as a table"),
    ("sms.title", "Kotak keluar SMS", "SMS outbox"),
    (
        "sms.intro",
        "Pesan untuk petugas loket dari penyedia SMS bawaan.",
        "Messages to registry desks kept by the embedded SMS provider.",
    ),
    ("sms.none", "Belum ada pesan.", "No messages yet."),
    ("sms.older", "Pesan lebih lama", "Older messages"),
    ("nav.desks", "Meja Dukcapil", "Registry desks"),
    (
        "desks.title",
        "Meja Dukcapil yang diberi tahu",
        "Registry desks notified",
    ),
    (
        "desks.intro",
        "Setiap pendaftaran penduduk baru dikirim lewat SMS ke meja Dukcapil kabupaten/kota tempat penduduk itu tinggal.",
        "Each new registration is texted to the registry desks of the regency or city where the resident lives.",
    ),
    (
        "desks.none",
        "Belum ada meja yang diberi tahu.",
        "No desk is notified yet.",
    ),
    ("desks.phone", "Nomor telepon", "Phone number"),
    ("desks.label", "Nama meja", "Desk name"),
    ("desks.new", "Tambah meja", "Add a desk"),
    ("desks.remove", "Hapus", "Remove"),
    ("desks.action", "Tindakan", "Action"),
    ("desks.added", "Meja ditambahkan.", "Desk added."),
    ("desks.removed", "Meja dihapus.", "Desk removed."),
    ("sms.at", "Waktu", "Time"),
    ("sms.to", "Kepada", "To"),
    ("sms.body", "Pesan", "Message"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    Id,
    En,
}

impl Lang {
    pub fn parse(value: Option<&str>) -> Option<Lang> {
        match value {
            Some("id") => Some(Lang::Id),
            Some("en") => Some(Lang::En),
            _ => None,
        }
    }
    pub fn code(self) -> &'static str {
        match self {
            Lang::Id => "id",
            Lang::En => "en",
        }
    }
}

/// The texts of one language, for templates: `t.get("nav.home")`.
#[derive(Clone, Copy, Debug)]
pub struct Tr(pub Lang);

impl Tr {
    /// The text of `key`, if there is one (for keys made from data, such as a status).
    pub fn find(&self, key: &str) -> Option<&'static str> {
        TEXTS
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(_, id, en)| match self.0 {
                Lang::Id => *id,
                Lang::En => *en,
            })
    }

    pub fn get(&self, key: &str) -> &'static str {
        match TEXTS.iter().find(|(k, _, _)| *k == key) {
            Some((_, id, en)) => match self.0 {
                Lang::Id => id,
                Lang::En => en,
            },
            None => {
                tracing::error!(key, "missing UI text");
                "?"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_text_exists_in_both_languages_once() {
        for (i, (key, id, en)) in TEXTS.iter().enumerate() {
            assert!(!id.is_empty() && !en.is_empty(), "{key}");
            assert!(TEXTS[i + 1..].iter().all(|(k, _, _)| k != key), "{key} twice");
        }
    }

    #[test]
    fn every_key_used_in_a_template_exists() {
        let templates = [
            include_str!("../templates/base.html"),
            include_str!("../templates/home.html"),
            include_str!("../templates/signup.html"),
            include_str!("../templates/account.html"),
            include_str!("../templates/departments.html"),
            include_str!("../templates/officers.html"),
            include_str!("../templates/message.html"),
            include_str!("../templates/residents.html"),
            include_str!("../templates/resident_new.html"),
            include_str!("../templates/resident.html"),
            include_str!("../templates/links.html"),
            include_str!("../templates/stats.html"),
            include_str!("../templates/sms.html"),
            include_str!("../templates/desks.html"),
            include_str!("../templates/forgot.html"),
            include_str!("../templates/forms.html"),
            include_str!("../templates/report_new.html"),
            include_str!("../templates/report_receipt.html"),
            include_str!("../templates/report_item.html"),
            include_str!("../templates/report_body.html"),
            include_str!("../templates/report.html"),
            include_str!("../templates/reports_mine.html"),
            include_str!("../templates/reports_feed.html"),
            include_str!("../templates/report_follow.html"),
            include_str!("../templates/department_queue.html"),
            include_str!("../templates/dashboard.html"),
            include_str!("../templates/charts.html"),
        ];
        for template in templates {
            for piece in template.split("t.get(\"").skip(1) {
                let key = piece.split('"').next().unwrap();
                assert!(TEXTS.iter().any(|(k, _, _)| *k == key), "no text for {key}");
            }
        }
    }
}
