// Integration and e2e tests run in a time zone far from UTC, so that any place where local
// time leaks into stored timestamps shows up as a failure.
module.exports = async () => {
  process.env.TZ = 'Asia/Tokyo';
};
