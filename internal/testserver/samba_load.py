# Bulk-loads users into a provisioned, stopped Samba AD DC's domain
# partition, for tests and benchmarks (internal/testserver/samba.go).
#
# Adding users through Samba's own modules (ldapadd, ldbadd on sam.ldb)
# costs time that grows with the directory: every add inserts the user
# into the sorted index list of every value it shares with the others
# (objectClass, objectCategory, primaryGroupID, ...), and those lists grow
# with the users (measured here: 2 ms an add at 500 users, 6 ms at 2,000).
# This loader writes the user records straight into the partition's ldb
# with Samba's modules bypassed and the partition's index off but for
# objectGUID (linear: 20,000 users in ~6 s), then has Samba re-index the
# database through its own modules (what `samba-tool dbcheck --reindex`
# does), which keys every value with Samba's syntaxes. Samba takes which
# attributes to index from its schema, not from the partition's
# @INDEXLIST, so that list is left as the load set it. The re-index still
# grows with the square of the users (ldb's sorted inserts): ~20 s for
# 20,000 users here.
#
# Each user of the LDIF gets what Samba's modules would have added, copied
# from a template user that Samba created itself (its object class chain,
# objectCategory, security descriptor, primaryGroupID, sAMAccountType, ...),
# plus its own objectSid (domain SID + a RID from 1,000,000 up, above
# anything the DC allocates in a test). The LDIF gives every attribute that
# differs per user, objectGUID included (so tests know each user's GUID).
#
# Usage: python3 samba_load.py SMB_CONF SAM_LDB PARTITION_LDB TEMPLATE_SAM_ACCOUNT_NAME USERS_LDIF
import struct
import sys

import ldb

smb_conf, sam, partition, template_sam, ldif_path = sys.argv[1:6]
db = ldb.Ldb(url=partition, options=["modules:"])

res = db.search(expression="(sAMAccountName=%s)" % template_sam, scope=ldb.SCOPE_SUBTREE)
if len(res) != 1:
    sys.exit("samba_load: template user %s not found" % template_sam)
template = res[0]
copied = ["objectClass", "instanceType", "whenCreated", "whenChanged", "uSNCreated", "uSNChanged",
          "nTSecurityDescriptor", "replPropertyMetaData", "badPwdCount", "codePage", "countryCode",
          "badPasswordTime", "lastLogoff", "lastLogon", "logonCount", "pwdLastSet", "primaryGroupID",
          "accountExpires", "sAMAccountType", "objectCategory"]
domain_sid = bytes(template["objectSid"][0])[:-4]


def set_indexing(attrs, one_level):
    m = ldb.Message(ldb.Dn(db, "@INDEXLIST"))
    m["@IDXATTR"] = ldb.MessageElement(attrs, ldb.FLAG_MOD_REPLACE, "@IDXATTR")
    m["@IDXONE"] = ldb.MessageElement([b"1"] if one_level else [], ldb.FLAG_MOD_REPLACE, "@IDXONE")
    db.transaction_start()
    db.modify(m)
    db.transaction_commit()


with open(ldif_path, "r", encoding="utf-8") as f:
    text = f.read()

set_indexing([b"objectGUID"], False)
db.transaction_start()
added = 0
for _, parsed in db.parse_ldif(text):
    m = ldb.Message(ldb.Dn(db, str(parsed.dn)))
    for name in copied:
        if name not in parsed:
            m[name] = ldb.MessageElement([bytes(v) for v in template[name]], ldb.FLAG_MOD_ADD, name)
    for name in parsed.keys():
        if name == "dn":
            continue
        m[name] = ldb.MessageElement([bytes(v) for v in parsed[name]], ldb.FLAG_MOD_ADD, name)
    m["objectSid"] = ldb.MessageElement([domain_sid + struct.pack("<I", 1000000 + added)], ldb.FLAG_MOD_ADD, "objectSid")
    m["distinguishedName"] = ldb.MessageElement([str(parsed.dn).encode()], ldb.FLAG_MOD_ADD, "distinguishedName")
    db.add(m)
    added += 1
db.transaction_commit()
db = None

from samba.auth import system_session  # noqa: E402
from samba.param import LoadParm  # noqa: E402
from samba.samdb import SamDB  # noqa: E402

lp = LoadParm()
lp.load(smb_conf)
samdb = SamDB(url=sam, session_info=system_session(), lp=lp)
m = ldb.Message()
m.dn = ldb.Dn(samdb, "@ATTRIBUTES")
m["add"] = ldb.MessageElement("NONE", ldb.FLAG_MOD_ADD, "force_reindex")
m["delete"] = ldb.MessageElement("NONE", ldb.FLAG_MOD_DELETE, "force_reindex")
samdb.modify(m)
print("samba_load: %d users" % added)
